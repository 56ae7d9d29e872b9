/**
 * From the parsed values to the volume's spec: the defaults for what was left out, and the rules that involve more
 * than one option (minimum size per type, iops and throughput per type, encryption and key, mkfs arguments per
 * filesystem). Every default of a new volume is decided here: the spec is exactly what EC2 is asked for.
 */
import type { CreateVolumeSpec, CrossAZPolicy } from '../../cloud/types';
import { MkfsOptionsError, validateMkfsOptions } from '../mkfs-options';
import { type CreateDefaults, DEFAULT_CROSS_AZ, DEFAULT_SIZE_GIB, DEFAULT_VOLUME_TYPE } from './defaults';
import { IOPS_REQUIRED, MIN_IOPS, MIN_SIZE_GIB, MIN_THROUGHPUT, type VolumeType } from './ec2-limits';
import type { Problems } from './problems';
import type { OptionName, OptionValues } from './table';

export interface ParsedCreateOptions {
  spec: CreateVolumeSpec;
  /** Not an EC2 parameter, so kept out of the spec: the volume service decides where to record it. */
  crossAZ: CrossAZPolicy;
  /**
   * True when `size` was not given and spec.sizeGiB is the default. With a snapshot, EC2 would use the snapshot's
   * size if Size were left out; the 16 GiB default is smaller than many snapshots.
   */
  sizeDefaulted: boolean;
}

/** An option the user gave: the key as typed, and the trimmed value. */
export interface GivenOption {
  key: string;
  value: string;
}

/** Defaults and the rules that involve more than one option. Only values that parsed take part. */
export function combine(
  name: string,
  given: ReadonlyMap<OptionName, GivenOption>,
  values: Partial<OptionValues>,
  defaults: CreateDefaults,
  problems: Problems,
): ParsedCreateOptions {
  const keyOf = (option: OptionName) => given.get(option)?.key ?? option;
  const failed = (option: OptionName) => given.has(option) && values[option] === undefined;

  const volumeType = values.volumeType ?? DEFAULT_VOLUME_TYPE;
  const typeKnown = !failed('volumeType');
  const sizeGiB = values.size ?? DEFAULT_SIZE_GIB;
  const sizeDefaulted = !given.has('size');

  const minSize = MIN_SIZE_GIB[volumeType];
  if (typeKnown && !failed('size') && minSize !== undefined && sizeGiB < minSize) {
    const hint = sizeDefaulted ? ` (size defaults to ${DEFAULT_SIZE_GIB}: give size=${minSize} or more)` : '';
    problems.add(keyOf('size'), `${volumeType} volumes need at least ${minSize} GiB, not ${sizeGiB}${hint}`);
  }

  if (typeKnown) {
    checkPerformance('iops', 'IOPS', MIN_IOPS, volumeType, values.iops, keyOf, problems);
    checkPerformance('throughput', 'MiB/s', MIN_THROUGHPUT, volumeType, values.throughput, keyOf, problems);
    if (IOPS_REQUIRED.includes(volumeType) && !given.has('iops')) {
      problems.add('iops', `${volumeType} volumes need iops (${MIN_IOPS[volumeType]} or more, e.g. iops=1000)`);
    }
  }

  const { encrypted, kmsKeyId } = encryption(given, values, defaults, keyOf, problems);

  const fsType = values.fsType ?? defaults.fsType;
  let mkfsOptions: string[] = [];
  if (values.mkfsOptions !== undefined && !failed('fsType')) {
    try {
      mkfsOptions = validateMkfsOptions(values.mkfsOptions, fsType);
    } catch (err) {
      if (!(err instanceof MkfsOptionsError)) throw err;
      problems.add(keyOf('mkfsOptions'), err.message);
    }
  }

  const spec: CreateVolumeSpec = {
    name,
    sizeGiB,
    volumeType,
    ...(values.iops !== undefined && { iops: values.iops }),
    ...(values.throughput !== undefined && { throughput: values.throughput }),
    encrypted,
    ...(kmsKeyId !== undefined && { kmsKeyId }),
    availabilityZone: values.availabilityZone ?? defaults.availabilityZone,
    ...(values.snapshot !== undefined && { snapshotId: values.snapshot }),
    extraTags: values.tags ?? {},
    format: {
      fsType,
      mkfsOptions,
      ...(values.uid !== undefined && { uid: values.uid }),
      ...(values.gid !== undefined && { gid: values.gid }),
      mode: values.mode ?? defaults.volumeFileMode,
    },
  };
  return { spec, crossAZ: values.crossAZ ?? DEFAULT_CROSS_AZ, sizeDefaulted };
}

/**
 * Whether the volume is encrypted and with which key (none: the account's default EBS key). An explicit kmsKeyId
 * wins; otherwise EBS_KMSKEYID, when set, encrypts every volume, so encrypted=false cannot be honoured and is refused.
 */
function encryption(
  given: ReadonlyMap<OptionName, GivenOption>,
  values: Partial<OptionValues>,
  defaults: CreateDefaults,
  keyOf: (option: OptionName) => string,
  problems: Problems,
): { encrypted: boolean; kmsKeyId?: string } {
  const hostKey = defaults.kmsKeyId || undefined;
  const refusedEncryption = `${keyOf('encrypted')}=${given.get('encrypted')?.value}`;
  if (values.encrypted === false) {
    if (values.kmsKeyId !== undefined) {
      problems.add(keyOf('kmsKeyId'), `a KMS key encrypts the volume, but ${refusedEncryption}: remove one of them`);
    } else if (hostKey !== undefined && !given.has('kmsKeyId')) {
      problems.add(
        keyOf('encrypted'),
        `this plugin encrypts every volume with EBS_KMSKEYID (${hostKey}), so it cannot make an unencrypted one: ` +
          `remove ${refusedEncryption}, or unset EBS_KMSKEYID in the plugin's settings`,
      );
    }
  }
  const encrypted = values.encrypted ?? (given.has('kmsKeyId') || hostKey !== undefined);
  const kmsKeyId = encrypted ? values.kmsKeyId ?? hostKey : undefined;
  return { encrypted, ...(kmsKeyId !== undefined && { kmsKeyId }) };
}

/** iops and throughput: only for the types that take them, and at least the documented minimum. */
function checkPerformance(
  option: 'iops' | 'throughput',
  unit: string,
  minimums: Partial<Record<VolumeType, number>>,
  volumeType: VolumeType,
  value: number | undefined,
  keyOf: (option: OptionName) => string,
  problems: Problems,
): void {
  if (value === undefined) return;
  const minimum = minimums[volumeType];
  if (minimum === undefined) {
    const takers = Object.keys(minimums);
    const only = `only ${takers.join(', ')} ${takers.length === 1 ? 'does' : 'do'}`;
    problems.add(keyOf(option), `${volumeType} volumes take no ${option} setting (${only})`);
  } else if (value < minimum) {
    problems.add(keyOf(option), `${volumeType} volumes need at least ${minimum} ${unit}, not ${value}`);
  }
}
