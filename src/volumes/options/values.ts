/**
 * Parsers for single option values: each takes the trimmed text of one `-o key=value` and returns the typed value,
 * or throws OptionValueError saying what is wrong (the caller prefixes the key).
 */
import { MAX_API_INTEGER, MAX_SIZE_GIB, MAX_USER_TAGS } from './ec2-limits';

/** A bad value; the caller prefixes the key. */
export class OptionValueError extends Error {}

/** Digits only (no sign, no fraction, no exponent), within a safe range; undefined otherwise. */
function wholeNumber(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export function apiInteger(text: string, example: string): number {
  if (!/^\d+$/.test(text)) throw new OptionValueError(`${JSON.stringify(text)} is not a whole number (e.g. ${example})`);
  const n = wholeNumber(text);
  if (n === undefined || n > MAX_API_INTEGER) {
    throw new OptionValueError(`${JSON.stringify(text)} is far too large (e.g. ${example})`);
  }
  return n;
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, g: 1n, gi: 1n, gib: 1n, t: 1024n, ti: 1024n, tib: 1024n };

export function parseSize(text: string): number {
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

export function parseEnum<T extends string>(allowed: readonly T[], what: string) {
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
export const BOOLEAN_WORDS: readonly string[] = [...TRUE_WORDS, ...FALSE_WORDS];

export function parseBoolean(text: string): boolean {
  const word = text.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new OptionValueError(`${JSON.stringify(text)} is not true or false; allowed: ${BOOLEAN_WORDS.join(', ')}`);
}

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const MULTI_REGION_KEY = 'mrk-[0-9a-fA-F]{32}';
const ALIAS = 'alias/[a-zA-Z0-9/_-]{1,250}';
const KMS_KEY = new RegExp(
  `^(?:${UUID}|${MULTI_REGION_KEY}|${ALIAS}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:(?:key/(?:${UUID}|${MULTI_REGION_KEY})|${ALIAS}))$`,
);

/** EC2 accepts any string here and fails the volume asynchronously, so the syntax is checked before the call. */
export function parseKmsKeyId(text: string): string {
  if (!KMS_KEY.test(text)) {
    throw new OptionValueError(
      `${JSON.stringify(text)} is not a KMS key: give a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-...), ` +
        `a key ARN, alias/<name> or an alias ARN`,
    );
  }
  return text;
}

const AVAILABILITY_ZONE = /^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/;

/**
 * A zone of the same region as hostZone (this instance's zone), when hostZone is a zone name at all; one of
 * regionZones when they are known (EC2 refuses a zone the region does not have).
 */
export function parseAvailabilityZone(text: string, hostZone: string, regionZones?: readonly string[]): string {
  const zone = text.toLowerCase();
  if (!AVAILABILITY_ZONE.test(zone)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not an availability zone name such as us-east-1a`);
  }
  if (AVAILABILITY_ZONE.test(hostZone)) {
    const region = hostZone.slice(0, -1);
    if (zone.slice(0, -1) !== region) {
      throw new OptionValueError(`${zone} is not in this instance's region ${region} (e.g. ${hostZone})`);
    }
  }
  if (regionZones && regionZones.length > 0 && !regionZones.includes(zone)) {
    throw new OptionValueError(`${zone} is not an availability zone of this region; its zones are ${regionZones.join(', ')}`);
  }
  return zone;
}

const SNAPSHOT_ID = /^snap-[0-9a-f]{8}([0-9a-f]{9})?$/;

export function parseSnapshotId(text: string): string {
  const id = text.toLowerCase();
  if (!SNAPSHOT_ID.test(id)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not a snapshot id such as snap-0123456789abcdef0`);
  }
  return id;
}

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const RESERVED_TAG_PREFIXES = ['aws:', 'berth:'];

export function parseTags(text: string): Record<string, string> {
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

export function parseMode(text: string): number {
  if (!/^[0-7]{3,4}$/.test(text)) {
    throw new OptionValueError(`${JSON.stringify(text)} is not an octal mode of 3 or 4 digits (e.g. mode=0755)`);
  }
  return parseInt(text, 8);
}

export function parseId(kind: string) {
  return (text: string): number => {
    const n = wholeNumber(text);
    if (n === undefined || n > MAX_API_INTEGER) {
      throw new OptionValueError(`${JSON.stringify(text)} is not a numeric ${kind} from 0 to ${MAX_API_INTEGER}`);
    }
    return n;
  };
}
