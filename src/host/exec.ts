/**
 * Runs host tools with an argument array (never a shell), a time bound, and captured output.
 * The exit code is returned, not thrown: blkid and fsck report meaningful states through it.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { BerthError } from '../common/errors';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type CommandRunner = (command: string, args: string[], options?: RunOptions) => Promise<CommandResult>;

export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
/** Output kept per stream: enough for any tool's diagnostics, bounded so a chatty tool cannot exhaust memory. */
const MAX_OUTPUT_CHARS = 256 * 1024;
/** Where util-linux, e2fsprogs and xfsprogs live; a daemon's PATH (or the plugin's) may lack the sbin dirs. */
const TOOL_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function toolPath(current = process.env.PATH ?? ''): string {
  const dirs = current.split(':').filter(Boolean);
  for (const dir of TOOL_DIRS) if (!dirs.includes(dir)) dirs.push(dir);
  return dirs.join(':');
}

function describeCommand(command: string, args: string[]): string {
  return [command, ...args].join(' ');
}

class BoundedText {
  private text = '';
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > MAX_OUTPUT_CHARS) this.text = this.text.slice(-MAX_OUTPUT_CHARS);
  }
  toString(): string {
    return this.text;
  }
}

/**
 * Runs `command args...`. Resolves with the exit code and output whatever the exit code; rejects only when the
 * command cannot start (BerthError 'host'), runs past its bound or is aborted (BerthError 'timeout').
 */
export const runCommand: CommandRunner = (command, args, options = {}) => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const { signal } = options;
  const shown = describeCommand(command, args);
  return new Promise<CommandResult>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new BerthError('timeout', `${shown}: not started, the operation was cancelled`));
      return;
    }
    const child = spawn(command, args, {
      env: { ...process.env, PATH: toolPath(), LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout = new BoundedText();
    const stderr = new BoundedText();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.append(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.append(chunk));

    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    // A process stuck in the kernel (a hung device) may never exit: reject at once instead of waiting for it.
    const stop = (why: string) => {
      child.kill('SIGKILL');
      settle(() => reject(new BerthError('timeout', `${shown}: ${why}; killed. ${tail(stderr.toString())}`.trim())));
    };
    const timer = setTimeout(() => stop(`did not finish within ${Math.round(timeoutMs / 100) / 10}s`), timeoutMs);
    const onAbort = () => stop('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${command} is not installed (not found in ${toolPath()})` : err.message;
      settle(() => reject(new BerthError('host', `${shown}: ${why}`, { cause: err })));
    });
    child.on('close', (code, killedBy) => {
      const exitCode = code ?? 128 + signalNumber(killedBy);
      settle(() => resolve({ exitCode, stdout: stdout.toString(), stderr: stderr.toString() }));
    });
  });
};

function signalNumber(name: NodeJS.Signals | null): number {
  return name ? (constants.signals[name] ?? 0) : 0;
}

/** The last few lines of a tool's output, for error messages. */
export function tail(output: string, lines = 8): string {
  return output.trim().split('\n').slice(-lines).join('\n');
}

/** Runs a command that must exit 0; any other exit is a BerthError (default code 'host') with the output's tail. */
export async function runChecked(
  run: CommandRunner,
  command: string,
  args: string[],
  options: RunOptions & { errorCode?: 'host' | 'filesystem' } = {},
): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.exitCode !== 0) {
    const output = tail(`${result.stderr}\n${result.stdout}`);
    throw new BerthError(
      options.errorCode ?? 'host',
      `${describeCommand(command, args)} failed (exit ${result.exitCode})${output ? `: ${output}` : ''}`,
    );
  }
  return result;
}
