/**
 * Every `-o key=value` option of `docker volume create`: its parser, aliases and documentation. The parser looks keys
 * up here, and CREATE_OPTIONS is the documentation view (test/unit/readme.test.ts checks that the README names every
 * option and alias). Keys are case-insensitive.
 */
import type { CrossAZPolicy } from '../../cloud/types';
import { FS_TYPES, type FsType } from '../../common/filesystems';
import { describeMkfsAllowList } from '../mkfs-options';
import { type CreateDefaults, DEFAULT_CROSS_AZ, DEFAULT_SIZE_GIB, DEFAULT_VOLUME_TYPE } from './defaults';
import { MAX_API_INTEGER, MAX_SIZE_GIB, MAX_USER_TAGS, VOLUME_TYPES, type VolumeType } from './ec2-limits';
import {
  apiInteger,
  BOOLEAN_WORDS,
  parseAvailabilityZone,
  parseBoolean,
  parseEnum,
  parseId,
  parseKmsKeyId,
  parseMode,
  parseSize,
  parseSnapshotId,
  parseTags,
} from './values';

/** The typed value of each option, once parsed. */
export interface OptionValues {
  size: number;
  volumeType: VolumeType;
  iops: number;
  throughput: number;
  encrypted: boolean;
  kmsKeyId: string;
  availabilityZone: string;
  snapshot: string;
  tags: Record<string, string>;
  fsType: FsType;
  /** Checked against the allow-list once fsType is known; see validateMkfsOptions. */
  mkfsOptions: string;
  uid: number;
  gid: number;
  mode: number;
  crossAZ: CrossAZPolicy;
}

export type OptionName = keyof OptionValues;

/** One option as documented to users. */
export interface CreateOptionDoc {
  name: string;
  aliases: readonly string[];
  allowed: string;
  default: string;
  description: string;
}

interface OptionDefinition<K extends OptionName> extends Omit<CreateOptionDoc, 'name'> {
  parse(text: string, defaults: CreateDefaults): OptionValues[K];
}

/** Every option, in documentation order; the mapped type makes a parser and docs mandatory for each. */
const OPTION_DEFINITIONS: { [K in OptionName]: OptionDefinition<K> } = {
  size: {
    aliases: [],
    allowed: `whole GiB from 1 to ${MAX_SIZE_GIB}, optionally with a unit: 20, 20Gi, 20GiB, 20G, 2Ti, 2TiB, 2T`,
    default: String(DEFAULT_SIZE_GIB),
    description: 'Size of the volume in GiB. st1 and sc1 volumes need at least 125 GiB, io1 and io2 at least 4 GiB.',
    parse: parseSize,
  },
  volumeType: {
    aliases: ['type'],
    allowed: VOLUME_TYPES.join(', '),
    default: DEFAULT_VOLUME_TYPE,
    description: 'EBS volume type.',
    parse: parseEnum(VOLUME_TYPES, 'an EBS volume type'),
  },
  iops: {
    aliases: [],
    allowed: 'a whole number; gp3: 3000 or more; io1, io2: 100 or more (required)',
    default: 'gp3: 3000 (the baseline); io1, io2: none, must be given',
    description: 'Provisioned IOPS, for gp3, io1 and io2 only. EC2 rules on the maximum for the size and type.',
    parse: (text) => apiInteger(text, 'iops=3000'),
  },
  throughput: {
    aliases: [],
    allowed: 'a whole number of MiB/s, 125 or more',
    default: 'gp3: 125 (the baseline)',
    description: 'Provisioned throughput in MiB/s, for gp3 only. EC2 rules on the maximum.',
    parse: (text) => apiInteger(text, 'throughput=250'),
  },
  encrypted: {
    aliases: [],
    allowed: BOOLEAN_WORDS.join(', '),
    default: 'true when kmsKeyId or EBS_KMSKEYID is set, else false',
    description:
      "Encrypt the volume: with kmsKeyId, else EBS_KMSKEYID, else the account's default EBS key. " +
      'encrypted=false is refused while EBS_KMSKEYID is set.',
    parse: parseBoolean,
  },
  kmsKeyId: {
    aliases: ['encryptionKey'],
    allowed: 'a KMS key id, key ARN, alias/<name> or alias ARN',
    default: "EBS_KMSKEYID, else the account's default EBS key (for encrypted volumes)",
    description: 'KMS key that encrypts the volume; implies encrypted=true and wins over EBS_KMSKEYID.',
    parse: parseKmsKeyId,
  },
  availabilityZone: {
    aliases: ['az'],
    allowed: "an availability zone of this instance's region, e.g. us-east-1a",
    default: "this instance's availability zone",
    description: 'Where the volume is created. It can be attached only to instances in that zone.',
    parse: (text, defaults) => parseAvailabilityZone(text, defaults.availabilityZone, defaults.regionZones),
  },
  snapshot: {
    aliases: ['snapshotId'],
    allowed: 'a snapshot id, e.g. snap-0123456789abcdef0',
    default: 'none (an empty volume)',
    description: 'Create the volume from this EBS snapshot; its data is kept and never reformatted.',
    parse: parseSnapshotId,
  },
  tags: {
    aliases: [],
    allowed:
      `key=value pairs separated by commas, at most ${MAX_USER_TAGS}; keys 1 to 128 characters, values up to 256; ` +
      'no "aws:" or "berth:" key prefix, no Name key, no commas inside keys or values',
    default: 'none',
    description: 'Extra EC2 tags on the volume, e.g. for AWS Backup or IAM policies.',
    parse: parseTags,
  },
  fsType: {
    aliases: [],
    allowed: FS_TYPES.join(', '),
    default: 'EBS_FSTYPE (ext4)',
    description: 'Filesystem made on the volume at its first mount.',
    parse: parseEnum(FS_TYPES, 'a supported filesystem'),
  },
  mkfsOptions: {
    aliases: [],
    allowed: FS_TYPES.map((fsType) => `${fsType}: ${describeMkfsAllowList(fsType)}`).join('; '),
    default: 'none',
    description: 'Extra mkfs arguments, separated by spaces, e.g. mkfsOptions="-b 4096 -I 512" (ext4).',
    parse: (text) => text,
  },
  uid: {
    aliases: [],
    allowed: `a numeric user id from 0 to ${MAX_API_INTEGER}`,
    default: 'unchanged (root)',
    description: 'Owner of the data directory the container sees.',
    parse: parseId('user id'),
  },
  gid: {
    aliases: [],
    allowed: `a numeric group id from 0 to ${MAX_API_INTEGER}`,
    default: 'unchanged (root)',
    description: 'Group of the data directory the container sees.',
    parse: parseId('group id'),
  },
  mode: {
    aliases: [],
    allowed: 'an octal mode of 3 or 4 digits, e.g. 0755, 0770, 1777',
    default: 'LINUX_VOLUME_FILEMODE',
    description: 'Mode of the data directory the container sees.',
    parse: parseMode,
  },
  crossAZ: {
    aliases: [],
    allowed: 'refuse, snapshot',
    default: DEFAULT_CROSS_AZ,
    description:
      'When the volume is needed in another availability zone: refuse, or move it there through a snapshot.',
    parse: parseEnum<CrossAZPolicy>(['refuse', 'snapshot'], 'a cross-AZ policy'),
  },
};

export const OPTION_NAMES = Object.keys(OPTION_DEFINITIONS) as OptionName[];

/** Every option, in documentation order. */
export const CREATE_OPTIONS: readonly CreateOptionDoc[] = Object.freeze(
  OPTION_NAMES.map((name) => {
    const { aliases, allowed, default: defaultValue, description } = OPTION_DEFINITIONS[name];
    return Object.freeze({ name, aliases: Object.freeze([...aliases]), allowed, default: defaultValue, description });
  }),
);

/** Parses the value given for an option; throws OptionValueError. */
export function parseValue<K extends OptionName>(option: K, text: string, defaults: CreateDefaults): OptionValues[K] {
  return (OPTION_DEFINITIONS[option] as OptionDefinition<K>).parse(text, defaults);
}

export function allowedValues(option: OptionName): string {
  return OPTION_DEFINITIONS[option].allowed;
}

/** The name and aliases of an option, as documented. */
export function spellingsOf(option: OptionName): string[] {
  return [option, ...OPTION_DEFINITIONS[option].aliases];
}

/** Lower-case key or alias → option. */
export const OPTION_BY_KEY: ReadonlyMap<string, OptionName> = new Map(
  OPTION_NAMES.flatMap((name) => spellingsOf(name).map((key) => [key.toLowerCase(), name] as const)),
);

/** "size, volumeType (type), ...": every option with its aliases, for error messages. */
export const OPTION_LIST = OPTION_NAMES.map((name) => {
  const { aliases } = OPTION_DEFINITIONS[name];
  return aliases.length ? `${name} (${aliases.join(', ')})` : name;
}).join(', ');
