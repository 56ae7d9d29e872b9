/**
 * `docker volume create -o key=value` options, validated once at the edge into a CreateVolumeSpec: keys are looked
 * up in the option table (case-insensitive, aliases too), values are trimmed and parsed, then combined with the host's
 * defaults. Every problem in one request is collected and reported in one CreateOptionsError, each naming the key as
 * typed; a mistyped key gets a "did you mean".
 */
import { quote } from '../../common/text';
import type { CreateDefaults } from './defaults';
import { type OptionProblem, CreateOptionsError, Problems } from './problems';
import { combine, type GivenOption, type ParsedCreateOptions } from './rules';
import {
  allowedValues,
  OPTION_BY_KEY,
  OPTION_LIST,
  OPTION_NAMES,
  type OptionName,
  type OptionValues,
  parseValue,
  spellingsOf,
} from './table';
import { OptionValueError } from './values';

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

/** Whether the options name an availability zone (then the region's zones are worth knowing before parsing). */
export function namesAvailabilityZone(opts: Record<string, string> | null | undefined): boolean {
  return opts !== null && typeof opts === 'object' && Object.keys(opts).some((key) => OPTION_BY_KEY.get(key.trim().toLowerCase()) === 'availabilityZone');
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
      problems.add(key, `no value given; allowed: ${allowedValues(option)}`);
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

/** Unknown keys named (each with its "did you mean") in one message; a request may send tens of thousands. */
const SHOWN_UNKNOWN_KEYS = 8;
const SHOWN_KEY_CHARS = 80;
const MAX_SUGGESTION_EDITS = 2;

function unknownOptionsProblem(keys: string[]): OptionProblem {
  const described = keys.slice(0, SHOWN_UNKNOWN_KEYS).map((key) => {
    const suggestion = closestOption(key);
    return suggestion ? `${quote(key, SHOWN_KEY_CHARS)} (did you mean ${suggestion}?)` : quote(key, SHOWN_KEY_CHARS);
  });
  const more = keys.length > SHOWN_UNKNOWN_KEYS ? ` and ${keys.length - SHOWN_UNKNOWN_KEYS} more` : '';
  const noun = keys.length === 1 ? 'option' : 'options';
  return { field: keys[0], message: `invalid ${noun} ${described.join(', ')}${more}: allowed options are ${OPTION_LIST}` };
}

/** The option whose name or alias is within two edits of a mistyped key, if any. */
function closestOption(key: string): string | undefined {
  const typed = key.trim().toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const candidate of OPTION_BY_KEY.keys()) {
    // The distance is at least the difference in length: a long key costs nothing to rule out.
    if (Math.abs(typed.length - candidate.length) > MAX_SUGGESTION_EDITS) continue;
    const distance = editDistance(typed, candidate);
    if (distance <= Math.min(MAX_SUGGESTION_EDITS, Math.floor(candidate.length / 2)) && (!best || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  if (!best) return undefined;
  const option = OPTION_BY_KEY.get(best.key)!;
  return spellingsOf(option).find((k) => k.toLowerCase() === best.key);
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
  given: ReadonlyMap<OptionName, GivenOption>,
  values: Partial<OptionValues>,
  defaults: CreateDefaults,
  problems: Problems,
): void {
  const entry = given.get(option);
  if (!entry) return;
  try {
    values[option] = parseValue(option, entry.value, defaults);
  } catch (err) {
    if (!(err instanceof OptionValueError)) throw err;
    problems.add(entry.key, err.message);
  }
}
