/**
 * `docker volume create -o key=value` options, validated once at the edge into a CreateVolumeSpec.
 *
 * OPTION_DEFINITIONS below is the single source of truth: the parser looks keys up in it, and CREATE_OPTIONS (its
 * documentation view) feeds the README and the help text. Keys are case-insensitive; values are trimmed strings.
 * Every problem in one request is collected and reported in one CreateOptionsError, each naming the key as typed.
 *
 * Local checks cover syntax and EC2's documented minimums. Maxima that AWS raises from time to time (IOPS,
 * throughput, per-type sizes) are left to EC2, whose InvalidParameter* errors the cloud layer maps back to options.
 */
import type { CreateVolumeSpec, FsType } from '../cloud/types';
import { ValidationError } from '../common/errors';
import { describeMkfsAllowList, MkfsOptionsError, validateMkfsOptions } from './mkfs-options';

/** Per-host values that fill in options the user left out. */
export interface CreateDefaults {
  /** This instance's availability zone. */
  availabilityZone: string;
  /** EBS_FSTYPE. */
  fsType: FsType;
  /** EBS_KMSKEYID; '' means the account's default EBS key. Used only for encrypted volumes (as REX-Ray did). */
  kmsKeyId: string;
  /** LINUX_VOLUME_FILEMODE, e.g. 0o755. */
  volumeFileMode: number;
}

export const VOLUME_TYPES = ['gp3', 'gp2', 'io1', 'io2', 'st1', 'sc1', 'standard'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

/** What to do when the volume is wanted in another availability zone (for the multi-AZ feature). */
export type { CrossAZPolicy } from '../cloud/types';
import type { CrossAZPolicy } from '../cloud/types';

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

/** One option as documented to users. */
export interface CreateOptionDoc {
  name: string;
  aliases: readonly string[];
  allowed: string;
  default: string;
  description: string;
}

/** One problem with the options: field is the key as the user typed it (or the canonical name if it was left out). */
export interface OptionProblem {
  field: string;
  message: string;
}

/** Every problem found in one set of options; field and message summarise them for callers that need one. */
export class CreateOptionsError extends ValidationError {
  constructor(readonly problems: readonly OptionProblem[]) {
    super(problems[0].field, summarise(problems));
  }
}

function summarise(problems: readonly OptionProblem[]): string {
  if (problems.length === 1) return problems[0].message;
  return `${problems.length} problems with the volume options: ${problems.map((p) => p.message).join('; ')}`;
}

export const DEFAULT_SIZE_GIB = 16;
export const MAX_SIZE_GIB = 65536;
export const DEFAULT_VOLUME_TYPE: VolumeType = 'gp3';
export const MAX_USER_TAGS = 40;

/** EC2's documented minimums, checked locally because they do not change. */
const MIN_SIZE_GIB: Partial<Record<VolumeType, number>> = { st1: 125, sc1: 125, io1: 4, io2: 4 };
const MIN_IOPS: Partial<Record<VolumeType, number>> = { gp3: 3000, io1: 100, io2: 100 };
const IOPS_REQUIRED: readonly VolumeType[] = ['io1', 'io2'];
const MIN_THROUGHPUT: Partial<Record<VolumeType, number>> = { gp3: 125 };

/** EC2's API integers are 32-bit: anything larger is a typo, not a request. */
const MAX_API_INTEGER = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------------------------
// Option values

/** A bad value; the caller prefixes the key. */
class OptionValueError extends Error {}

/** Digits only (no sign, no fraction, no exponent), within a safe range; undefined otherwise. */
function wholeNumber(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

function apiInteger(text: string, example: string): number {
  if (!/^\d+$/.test(text)) throw new OptionValueError(`${JSON.stringify(text)} is not a whole number (e.g. ${example})`);
  const n = wholeNumber(text);
  if (n === undefined || n > MAX_API_INTEGER) {
    throw new OptionValueError(`${JSON.stringify(text)} is far too large (e.g. ${example})`);
  }
  return n;
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, g: 1n, gi: 1n, gib: 1n, t: 1024n, ti: 1024n, tib: 1024n };

function parseSize(text: string): number {
  const example = 'e.g. size=20, size=500Gi or size=2Ti';
  const match = /^(\d+)(?:\.(\d+))?\s*([A-Za-z]*)$/.exec(text);
  if (!match) throw new OptionValueError(`${JSON.stringify(text)} is not a whole number of GiB (${example})`);
  const [, whole, fraction = '', unit] = match;
  const multiplier = SIZE_UNITS[unit.toLowerCase()];
  if (multiplier === undefined) {
    throw new OptionValueError(
      `unit ${JSON.stringify(unit)} in ${JSON.stringify(text)} is not accepted: sizes are in GiB, ` +
        `optionally written with Gi, GiB, G, Ti, TiB or T (${example})`,
    );
  }
  // Exact arithmetic: 1.5Ti is 1536 GiB, 0.1Ti is not a whole number of GiB.
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(whole + fraction) * multiplier;
  if (scaled % scale !== 0n) throw new OptionValueError(`${JSON.stringify(text)} is not a whole number of GiB (${example})`);
  const gib = scaled / scale;
  if (gib < 1n) throw new OptionValueError(`${JSON.stringify(text)} is too small: the minimum is 1 GiB`);
  if (gib > BigInt(MAX_SIZE_GIB)) {
    throw new OptionValueError(`${JSON.stringify(text)} is too large: the maximum is ${MAX_SIZE_GIB} GiB (64 TiB)`);
  }
  return Number(gib);
}

function parseEnum<T extends string>(allowed: readonly T[], what: string) {
  return (text: string): T => {
    const value = text.toLowerCase() as T;
    if (!allowed.includes(value)) {
      throw new OptionValueError(`${JSON.stringify(text)} is not ${what}; allowed: ${allowed.join(', ')}`);
    }
    return value;
  };
}

const TRUE_WORDS = ['true', 'yes', '1'];
const FALSE_WORDS = ['false', 'no', '0'];

function parseBoolean(text: string): boolean {
  const word = text.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new OptionValueError(`${JSON.stringify(text)} is not true or false; allowed: ${[...TRUE_WORDS, ...FALSE_WORDS].join(', ')}`);
}

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const MULTI_REGION_KEY = 'mrk-[0-9a-fA-F]{32}';
const ALIAS = 'alias/[a-zA-Z0-9/_-]{1,250}';
const KMS_KEY = new RegExp(
  `^(?:${UUID}|${MULTI_REGION_KEY}|${ALIAS}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:(?:key/(?:${UUID}|${MULTI_REGION_KEY})|${ALIAS}))$`,
);

/** EC2 accepts any string here and fails the volume asynchronously, so the syntax is checked before the call. */
function parseKmsKeyId(text: string): string {
  if (!KMS_KEY.test(text)) {
    throw new OptionValueError(
      `${JSON.stringify(text)} is not a KMS key: give a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-...), ` +
        `a key ARN, alias/<name> or an alias ARN`,
    );
  }
  return text;
}

const AVAILABILITY_ZONE = /^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/;

function parseAvailabilityZone(text: string, defaults: CreateDefaults): string {
  const zone = text.toLowerCase();
  if (!AVAILABILITY_ZONE.test(zone)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not an availability zone name such as us-east-1a`);
  }
  if (AVAILABILITY_ZONE.test(defaults.availabilityZone)) {
    const region = defaults.availabilityZone.slice(0, -1);
    if (zone.slice(0, -1) !== region) {
      throw new OptionValueError(`${zone} is not in this instance's region ${region} (e.g. ${defaults.availabilityZone})`);
    }
  }
  return zone;
}

const SNAPSHOT_ID = /^snap-[0-9a-f]{8}([0-9a-f]{9})?$/;

function parseSnapshotId(text: string): string {
  const id = text.toLowerCase();
  if (!SNAPSHOT_ID.test(id)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not a snapshot id such as snap-0123456789abcdef0`);
  }
  return id;
}

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const RESERVED_TAG_PREFIXES = ['aws:', 'berth:'];

function parseTags(text: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const entry of text.split(',')) {
    if (entry.trim() === '') continue;
    const equals = entry.indexOf('=');
    if (equals < 0) throw new OptionValueError(`${JSON.stringify(entry.trim())} has no "=": write key=value`);
    const key = entry.slice(0, equals).trim();
    const value = entry.slice(equals + 1).trim();
    const shownKey = JSON.stringify(key);
    if (key === '') throw new OptionValueError(`${JSON.stringify(entry.trim())} has an empty key`);
    if ([...key].length > 128) throw new OptionValueError(`key ${shownKey} is longer than 128 characters`);
    if ([...value].length > 256) throw new OptionValueError(`the value of ${shownKey} is longer than 256 characters`);
    if (CONTROL_CHARACTER.test(key) || CONTROL_CHARACTER.test(value)) {
      throw new OptionValueError(`tag ${shownKey} contains a control character`);
    }
    const prefix = RESERVED_TAG_PREFIXES.find((p) => key.toLowerCase().startsWith(p));
    if (prefix) throw new OptionValueError(`key ${shownKey} uses the reserved prefix "${prefix}"`);
    if (key.toLowerCase() === 'name') {
      throw new OptionValueError(`key ${shownKey} is reserved: berth sets the Name tag to the volume name`);
    }
    if (Object.hasOwn(tags, key)) throw new OptionValueError(`key ${shownKey} is given twice`);
    tags[key] = value;
  }
  const count = Object.keys(tags).length;
  if (count > MAX_USER_TAGS) throw new OptionValueError(`${count} tags given: at most ${MAX_USER_TAGS} are allowed`);
  return tags;
}

function parseMode(text: string): number {
  if (!/^[0-7]{3,4}$/.test(text)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not an octal mode of 3 or 4 digits (e.g. mode=0755)`);
  }
  return parseInt(text, 8);
}

function parseId(kind: string) {
  return (text: string): number => {
    const n = wholeNumber(text);
    if (n === undefined || n > MAX_API_INTEGER) {
      throw new OptionValueError(`${JSON.stringify(text)} is not a numeric ${kind} from 0 to ${MAX_API_INTEGER}`);
    }
    return n;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The table

interface OptionValues {
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

type OptionName = keyof OptionValues;

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
    allowed: [...TRUE_WORDS, ...FALSE_WORDS].join(', '),
    default: 'false (true when kmsKeyId is given)',
    description: "Encrypt the volume: with kmsKeyId, else EBS_KMSKEYID, else the account's default EBS key.",
    parse: parseBoolean,
  },
  kmsKeyId: {
    aliases: ['encryptionKey'],
    allowed: 'a KMS key id, key ARN, alias/<name> or alias ARN',
    default: 'EBS_KMSKEYID when encrypted, else the account default',
    description: 'KMS key that encrypts the volume; implies encrypted=true.',
    parse: parseKmsKeyId,
  },
  availabilityZone: {
    aliases: ['az'],
    allowed: "an availability zone of this instance's region, e.g. us-east-1a",
    default: "this instance's availability zone",
    description: 'Where the volume is created. It can be attached only to instances in that zone.',
    parse: parseAvailabilityZone,
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
    allowed: 'ext4, xfs',
    default: 'EBS_FSTYPE (ext4)',
    description: 'Filesystem made on the volume at its first mount.',
    parse: parseEnum<FsType>(['ext4', 'xfs'], 'a supported filesystem'),
  },
  mkfsOptions: {
    aliases: [],
    allowed: `ext4: ${describeMkfsAllowList('ext4')}; xfs: ${describeMkfsAllowList('xfs')}`,
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
    default: 'refuse',
    description:
      'When the volume is needed in another availability zone: refuse, or move it there through a snapshot.',
    parse: parseEnum<CrossAZPolicy>(['refuse', 'snapshot'], 'a cross-AZ policy'),
  },
};

const OPTION_NAMES = Object.keys(OPTION_DEFINITIONS) as OptionName[];

/** Every option, for the README and the help text. */
export const CREATE_OPTIONS: readonly CreateOptionDoc[] = Object.freeze(
  OPTION_NAMES.map((name) => {
    const { aliases, allowed, default: defaultValue, description } = OPTION_DEFINITIONS[name];
    return Object.freeze({ name, aliases: Object.freeze([...aliases]), allowed, default: defaultValue, description });
  }),
);

/** Lower-case key or alias → option. */
const OPTION_BY_KEY = new Map<string, OptionName>(
  OPTION_NAMES.flatMap((name) => [name, ...OPTION_DEFINITIONS[name].aliases].map((key) => [key.toLowerCase(), name])),
);

const OPTION_LIST = OPTION_NAMES.map((name) => {
  const { aliases } = OPTION_DEFINITIONS[name];
  return aliases.length ? `${name} (${aliases.join(', ')})` : name;
}).join(', ');

// ---------------------------------------------------------------------------------------------------------------
// Parsing

interface GivenOption {
  /** As the user typed it. */
  key: string;
  value: string;
}

class Problems {
  readonly list: OptionProblem[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message: `${field}: ${message}` });
  }
}

/**
 * Turns Docker's `Opts` (null for `docker run -v`) into the spec of a new volume. `name` must already have passed
 * validateVolumeName. Throws CreateOptionsError (a ValidationError) listing every problem.
 */
export function parseCreateOptions(
  name: string,
  opts: Record<string, string> | null | undefined,
  defaults: CreateDefaults,
): ParsedCreateOptions {
  const problems = new Problems();
  const given = collectOptions(opts, problems);
  const values: Partial<OptionValues> = {};
  for (const option of OPTION_NAMES) parseOne(option, given, values, defaults, problems);
  const parsed = combine(name, given, values, defaults, problems);
  if (problems.list.length > 0) throw new CreateOptionsError(problems.list);
  return parsed;
}

function collectOptions(opts: unknown, problems: Problems): Map<OptionName, GivenOption> {
  const given = new Map<OptionName, GivenOption>();
  if (opts === null || opts === undefined) return given;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    problems.list.push({ field: 'Opts', message: 'Opts: volume options must be a map of strings (key=value)' });
    return given;
  }
  const unknown: string[] = [];
  for (const [rawKey, rawValue] of Object.entries(opts)) {
    const key = rawKey.trim();
    const option = OPTION_BY_KEY.get(key.toLowerCase());
    if (!option) {
      unknown.push(rawKey);
      continue;
    }
    if (typeof rawValue !== 'string') {
      problems.add(key, `the value must be a string, not ${rawValue === null ? 'null' : typeof rawValue}`);
      continue;
    }
    const value = rawValue.trim();
    if (value === '') {
      problems.add(key, `no value given; allowed: ${OPTION_DEFINITIONS[option].allowed}`);
      continue;
    }
    const earlier = given.get(option);
    if (earlier) {
      if (earlier.value !== value) {
        problems.add(key, `given twice with different values: ${earlier.key}=${earlier.value} and ${key}=${value}`);
      }
      continue;
    }
    given.set(option, { key, value });
  }
  if (unknown.length > 0) problems.list.unshift(unknownOptionsProblem(unknown));
  return given;
}

function unknownOptionsProblem(keys: string[]): OptionProblem {
  const described = keys.map((key) => {
    const suggestion = closestOption(key);
    return suggestion ? `${JSON.stringify(key)} (did you mean ${suggestion}?)` : JSON.stringify(key);
  });
  const noun = keys.length === 1 ? 'option' : 'options';
  return { field: keys[0], message: `invalid ${noun} ${described.join(', ')}: allowed options are ${OPTION_LIST}` };
}

/** The option whose name or alias is within two edits of a mistyped key, if any. */
function closestOption(key: string): string | undefined {
  const typed = key.trim().toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const candidate of OPTION_BY_KEY.keys()) {
    const distance = editDistance(typed, candidate);
    if (distance <= Math.min(2, Math.floor(candidate.length / 2)) && (!best || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  if (!best) return undefined;
  const option = OPTION_BY_KEY.get(best.key)!;
  return [option, ...OPTION_DEFINITIONS[option].aliases].find((k) => k.toLowerCase() === best.key);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function parseOne<K extends OptionName>(
  option: K,
  given: Map<OptionName, GivenOption>,
  values: Partial<OptionValues>,
  defaults: CreateDefaults,
  problems: Problems,
): void {
  const entry = given.get(option);
  if (!entry) return;
  try {
    values[option] = (OPTION_DEFINITIONS[option] as OptionDefinition<K>).parse(entry.value, defaults);
  } catch (err) {
    if (!(err instanceof OptionValueError)) throw err;
    problems.add(entry.key, err.message);
  }
}

/** Defaults and the rules that involve more than one option. Only values that parsed take part. */
function combine(
  name: string,
  given: Map<OptionName, GivenOption>,
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

  if (values.kmsKeyId !== undefined && values.encrypted === false) {
    problems.add(
      keyOf('kmsKeyId'),
      `a KMS key encrypts the volume, but ${keyOf('encrypted')}=${given.get('encrypted')?.value}: remove one of them`,
    );
  }
  const encrypted = values.encrypted ?? given.has('kmsKeyId');
  const kmsKeyId = encrypted ? values.kmsKeyId ?? (defaults.kmsKeyId || undefined) : undefined;

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
  return { spec, crossAZ: values.crossAZ ?? 'refuse', sizeDefaulted };
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
