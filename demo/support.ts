/**
 * What only the demo needs besides the toolkit in test/support: its error type, the transcript printer, and a few
 * host details (capabilities, log tails, removing its directories without crossing into a mount).
 */
import fs from 'node:fs';
import { CommandError, commandLine, runCommandOk } from '../test/support/commands';
import { mountsUnder } from '../test/support/mounts';
import { PollTimeoutError } from '../test/support/poll';

export class DemoError extends Error {
  /** @param details what the failed command printed, a log tail */
  constructor(
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}

/** How a failure is told: a heading, the details under it, and whether it is a bug (then its stack is shown). */
export function describeFailure(err: unknown): { heading: string; details: string; unexpected: boolean } {
  if (err instanceof DemoError) return { heading: err.message, details: err.details, unexpected: false };
  if (err instanceof CommandError) return { heading: `${err.command}: ${err.outcome}`, details: err.output, unexpected: false };
  if (err instanceof PollTimeoutError) return { heading: err.message, details: '', unexpected: false };
  const error = err instanceof Error ? err : new Error(String(err));
  return { heading: error.message, details: error.stack ?? '', unexpected: true };
}

export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Linux capabilities by number (include/uapi/linux/capability.h). */
const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
].map((name) => `CAP_${name}`);

/** Those of the named capabilities (CAP_SYS_ADMIN...) missing from this process's bounding set. */
export function missingCapabilities(names: string[]): string[] {
  const match = /^CapBnd:\s+([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!match) return [];
  const bounding = BigInt(`0x${match[1]}`);
  return names.filter((name) => {
    const bit = CAPABILITIES.indexOf(name.toUpperCase());
    return bit >= 0 && ((bounding >> BigInt(bit)) & 1n) === 0n;
  });
}

/**
 * Removes directories, never crossing into another filesystem: a mount left inside (a volume, a bind of the host's
 * /dev in a plugin rootfs) must stop the removal, not be emptied by it.
 */
export async function removeTree(...dirs: string[]): Promise<void> {
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    const mounted = mountsUnder([dir]);
    if (mounted.length > 0) throw new DemoError(`${dir}: still mounted inside, not removing: ${mounted.join(', ')}`);
    await runCommandOk('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 300_000 });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The transcript

const MAX_LINES = 14;
const MAX_WIDTH = 150;
const INDENT = '     ';

/** Wraps a long command over several lines with shell continuations, so it can still be pasted. */
function wrapCommand(text: string): string[] {
  const lines: string[] = [];
  let line = '$';
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > MAX_WIDTH - INDENT.length && line !== '$') {
      lines.push(`${line} \\`);
      line = '   ';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

function trimOutput(text: string, maxLines = MAX_LINES): string[] {
  const lines = text.replace(/\s+$/, '').split('\n').filter((line, i, all) => line.trim() || (i > 0 && i < all.length - 1));
  const shown = lines.slice(0, maxLines).map((line) => (line.length > MAX_WIDTH ? `${line.slice(0, MAX_WIDTH - 1)}…` : line));
  if (lines.length > maxLines) shown.push(`… (${lines.length - maxLines} more lines)`);
  return shown;
}

export type Show = (command: string[] | string) => void;
export type StepOutput = string | { text: string; maxLines?: number } | undefined | void;

/** A step run before the transcript existed (the npm packages, by demo/bootstrap.mjs), with its own timing. */
export interface StepDoneEarlier {
  title: string;
  command: string[];
  text: string;
  seconds: number;
  startedAt: number;
}

/**
 * Prints numbered steps: the title, the commands a user would type, what they printed (trimmed) and how long the
 * step took. `step(title, body)`: body receives a `show(commandWords | string)` to print a command as it starts,
 * and returns the text to print as its output (or `{ text, maxLines }` to show more than the usual few lines).
 */
export class Transcript {
  readonly steps: Array<{ title: string; seconds: number; failed?: boolean }> = [];

  constructor(
    private readonly started = Date.now(),
    private readonly write = (text: string) => void process.stdout.write(text),
  ) {}

  heading(text: string): void {
    this.write(`\n${text}\n`);
  }

  line(text = ''): void {
    this.write(`${text}\n`);
  }

  async step<T extends StepOutput>(title: string, body: (show: Show) => Promise<T>): Promise<T> {
    const started = Date.now();
    const record: { title: string; seconds: number; failed?: boolean } = { title, seconds: 0 };
    this.begin(record);
    try {
      const output = await body((command) => this.show(command));
      record.seconds = (Date.now() - started) / 1000;
      this.end(record, output);
      return output;
    } catch (err) {
      record.seconds = (Date.now() - started) / 1000;
      record.failed = true;
      throw err;
    }
  }

  /** Prints a step that ran before, with the time it took then. */
  stepDoneEarlier({ title, command, text, seconds }: StepDoneEarlier): void {
    const record = { title, seconds };
    this.begin(record);
    this.show(command);
    this.end(record, text);
  }

  /** Total seconds since the transcript (or the step done before it) began. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  summary(): void {
    const width = Math.max(...this.steps.map((s) => s.title.length));
    this.heading('Timings');
    for (const [i, s] of this.steps.entries()) {
      this.line(`${String(i + 1).padStart(4)}. ${s.title.padEnd(width)}  ${s.seconds.toFixed(1).padStart(6)} s${s.failed ? '  FAILED' : ''}`);
    }
    this.line(`      ${'total'.padEnd(width)}  ${this.elapsed().toFixed(1).padStart(6)} s`);
  }

  private begin(record: { title: string; seconds: number }): void {
    this.steps.push(record);
    this.write(`\n${String(this.steps.length).padStart(2)}. ${record.title}\n`);
  }

  private show(command: string[] | string): void {
    const text = Array.isArray(command) ? commandLine(command) : command;
    for (const line of wrapCommand(text)) this.write(`${INDENT}${line}\n`);
  }

  private end(record: { seconds: number }, output: StepOutput): void {
    const { text, maxLines } = typeof output === 'object' && output !== null ? output : { text: output, maxLines: undefined };
    if (text) for (const line of trimOutput(text, maxLines)) this.write(`${INDENT}${line}\n`);
    this.write(`${INDENT}(${record.seconds.toFixed(1)} s)\n`);
  }
}
