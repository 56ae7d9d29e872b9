/**
 * A command's arguments, read by node:util parseArgs (strict) and checked before any request: every mistake is a
 * usage failure (exit 2) that names the argument and what is allowed.
 */
import { parseArgs } from 'node:util';
import { quote } from '../common/text';
import { usageError } from './failures';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help and messages: PATH, N. */
  value?: string;
  doc: string;
}

/** What every admin command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', doc: 'print the result as JSON on stdout (no progress)' },
  socket: { type: 'string', value: 'PATH', doc: "the daemon's admin socket (default: found as `berth --help` says)" },
  plugin: { type: 'string', value: 'NAME', doc: 'the Docker plugin to talk to, when the socket is asked of Docker' },
  'docker-exec-root': { type: 'string', value: 'DIR', doc: "the Docker engine's exec root (default /run/docker)" },
  config: { type: 'string', value: 'FILE', doc: "berth serve's config file (EBS_CONFIG), read for the plugin socket" },
  help: { type: 'boolean', short: 'h', doc: 'show this help' },
};

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandLine {
  operands: string[];
  values: OptionValues;
}

export function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

export function optionUsage(name: string, spec: OptionSpec): string {
  return spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
}

/** `command` names the command in messages ("volume resize"); `operands` is its usage ("NAME SIZE", "[NAME]"). */
export function readCommandLine(command: string, operands: string, args: string[], options: Record<string, OptionSpec>): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError(`${command}: ${explainParseError(err as NodeJS.ErrnoException, options)}`);
  }
  const values = parsed.values as OptionValues;
  for (const [name, value] of Object.entries(values)) {
    if (value === '' || (Array.isArray(value) && value.includes(''))) throw usageError(`${command}: ${optionUsage(name, options[name])} needs a value`);
  }
  checkOperandCount(command, operands, parsed.positionals);
  return { operands: parsed.positionals, values };
}

function explainParseError(err: NodeJS.ErrnoException, options: Record<string, OptionSpec>): string {
  const allowed = `allowed: ${Object.entries(options).map(([name, spec]) => optionUsage(name, spec)).join(', ')}`;
  const given = /^(?:Unknown option|Option) '(-{1,2}[^' ]+)/.exec(err.message)?.[1] ?? '';
  const name = Object.keys(options).find((key) => given === `--${key}` || given === `-${options[key].short}`);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || !name) return `unknown option ${given || err.message} (${allowed})`;
  const spec = options[name];
  if (spec.type === 'boolean') return `--${name} takes no value`;
  return `${optionUsage(name, spec)} needs a value (one starting with "-" is written --${name}=-VALUE)`;
}

function checkOperandCount(command: string, operands: string, given: string[]): void {
  const words = operands.split(' ').filter(Boolean);
  const required = words.filter((word) => !word.startsWith('['));
  if (given.length < required.length) {
    throw usageError(`${command}: missing ${required.slice(given.length).join(' and ')} (usage: berth ${command} ${operands})`);
  }
  if (given.length > words.length) {
    const takes = words.length === 0 ? 'takes no operands' : `takes only ${words.join(' ')}`;
    throw usageError(`${command}: ${takes}; unexpected ${quote(given[words.length])}`);
  }
  const empty = given.findIndex((value) => value.trim() === '');
  if (empty !== -1) throw usageError(`${command}: ${words[empty].replace(/[[\]]/g, '')} must not be empty`);
}

/** SIZE: whole GiB above 0, optionally suffixed G or GiB. */
export function readSizeGiB(text: string, what: string): number {
  const match = /^(\d+)(?:G|GiB)?$/i.exec(text.trim());
  const size = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(size) || size < 1) {
    throw usageError(`${what} must be a whole number of GiB above 0, optionally followed by G or GiB (20, 20G, 20GiB), not ${quote(text)}`);
  }
  return size;
}

export function readWholeNumber(text: string, what: string): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw usageError(`${what} must be a whole number above 0, not ${quote(text)}`);
  return value;
}

/** `--tag key=value`, repeated; a key given twice is refused rather than one of them dropped. */
export function readTags(texts: string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const text of texts) {
    const equals = text.indexOf('=');
    if (equals < 1) throw usageError(`--tag must be key=value (a key, "=", then the value, which may be empty), not ${quote(text)}`);
    const key = text.slice(0, equals);
    if (Object.hasOwn(tags, key)) throw usageError(`--tag ${quote(key)} is given twice`);
    tags[key] = text.slice(equals + 1);
  }
  return tags;
}
