/**
 * What a modification may ask, checked before ModifyVolume as create checks its options: size only grows, and
 * the target type's size minimum and its IOPS and throughput rules hold. The answer is the whole target, so that a
 * change that changes nothing is refused here, naming what the volume already is.
 */
import type { CloudVolume } from '../cloud/types';
import { ValidationError } from '../common/errors';
import { MAX_API_INTEGER, MAX_SIZE_GIB, MIN_IOPS, MIN_SIZE_GIB, MIN_THROUGHPUT, VOLUME_TYPES, type VolumeType } from './options/ec2-limits';
import type { VolumeChange } from './operations';

/** The fields as the CLI and the admin API name them. */
const FIELDS = { sizeGiB: 'size', volumeType: 'type', iops: 'iops', throughput: 'throughput' } as const;

function integerField(change: Record<string, unknown>, key: keyof typeof FIELDS, max: number): number | undefined {
  const value = change[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError(FIELDS[key], `${FIELDS[key]} must be a whole number from 1 to ${max}, not ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value;
}

function volumeTypeField(change: Record<string, unknown>): VolumeType | undefined {
  const value = change.volumeType;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(VOLUME_TYPES as readonly string[]).includes(value.toLowerCase())) {
    throw new ValidationError('type', `type must be one of ${VOLUME_TYPES.join(', ')}, not ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value.toLowerCase() as VolumeType;
}

/** The request's own shape: known fields of the right types, at least one of them. */
export function parseChange(body: unknown): VolumeChange {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('change', 'the change must be an object with size, type, iops or throughput');
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !(key in FIELDS));
  if (unknown.length > 0) {
    throw new ValidationError(unknown[0].slice(0, 40), `unknown field ${JSON.stringify(unknown[0].slice(0, 40))}: a change has sizeGiB, volumeType, iops and throughput`);
  }
  const change: VolumeChange = {
    ...(record.sizeGiB !== undefined && { sizeGiB: integerField(record, 'sizeGiB', MAX_SIZE_GIB) }),
    ...(record.volumeType !== undefined && { volumeType: volumeTypeField(record) }),
    ...(record.iops !== undefined && { iops: integerField(record, 'iops', MAX_API_INTEGER) }),
    ...(record.throughput !== undefined && { throughput: integerField(record, 'throughput', MAX_API_INTEGER) }),
  };
  if (Object.keys(change).length === 0) throw new ValidationError('change', 'nothing to change: give a size, a type, iops or throughput');
  return change;
}

function describe(volume: CloudVolume): string {
  const performance = [volume.iops !== undefined && `${volume.iops} IOPS`, volume.throughput !== undefined && `${volume.throughput} MiB/s`].filter(Boolean);
  return `${volume.sizeGiB} GiB ${volume.volumeType}${performance.length ? ` (${performance.join(', ')})` : ''}`;
}

/** Checks the change against the volume as EC2 has it now; returns what ModifyVolume is asked for. */
export function checkChange(volume: CloudVolume, change: VolumeChange): VolumeChange {
  const name = volume.name;
  const targetType = (change.volumeType ?? volume.volumeType) as VolumeType;
  const targetSize = change.sizeGiB ?? volume.sizeGiB;
  if (targetSize < volume.sizeGiB) {
    throw new ValidationError('size', `size only grows: volume ${name} is ${volume.sizeGiB} GiB, so give ${volume.sizeGiB} or more (EBS cannot shrink a volume)`);
  }
  const minimum = MIN_SIZE_GIB[targetType];
  if (minimum !== undefined && targetSize < minimum) {
    throw new ValidationError('size', `${targetType} volumes need at least ${minimum} GiB; volume ${name} would be ${targetSize} GiB: give size ${minimum} or more`);
  }
  for (const [field, minimums, unit] of [['iops', MIN_IOPS, 'IOPS'], ['throughput', MIN_THROUGHPUT, 'MiB/s']] as const) {
    const value = change[field];
    if (value === undefined) continue;
    const least = minimums[targetType];
    if (least === undefined) {
      throw new ValidationError(field, `${targetType} volumes take no ${field} setting (only ${Object.keys(minimums).join(', ')} do)`);
    }
    if (value < least) throw new ValidationError(field, `${targetType} volumes need at least ${least} ${unit}, not ${value}`);
  }
  const needsIops = targetType === 'io1' || targetType === 'io2';
  if (needsIops && change.iops === undefined && !(volume.volumeType === 'io1' || volume.volumeType === 'io2')) {
    throw new ValidationError('iops', `${targetType} volumes need iops (${MIN_IOPS[targetType]} or more): give --iops`);
  }
  const sameIops = change.iops === undefined || change.iops === volume.iops;
  const sameThroughput = change.throughput === undefined || change.throughput === volume.throughput;
  if (targetSize === volume.sizeGiB && targetType === volume.volumeType && sameIops && sameThroughput) {
    throw new ValidationError('change', `nothing to change: volume ${name} is already ${describe(volume)}`);
  }
  return {
    ...(targetSize !== volume.sizeGiB && { sizeGiB: targetSize }),
    ...(targetType !== volume.volumeType && { volumeType: targetType }),
    ...(change.iops !== undefined && { iops: change.iops }),
    ...(change.throughput !== undefined && { throughput: change.throughput }),
  };
}
