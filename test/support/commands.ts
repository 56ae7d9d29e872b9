/** Running commands: an argument array (no shell), a time limit, the output collected. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CommandOutput {
  stdout: string;
  stderr: string;
  /** Exit code; null when the command was killed (see timedOut). */
  code: number | null;
  timedOut: boolean;
}

export interface RunOptions {
  /** SIGKILL the command after this long. Default 60 s. */
  timeoutMs?: number;
  /** Written to the command's standard input (then closed). */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** A command failed (non-zero exit or time limit): its line, what became of it, and what it printed. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly command: string,
    readonly outcome: string,
    readonly output: string,
  ) {
    super(`${command}: ${outcome}${output ? `\n${output}` : ''}`);
  }
}

/** A command as a user would type it (single quotes where the shell needs them). */
export function commandLine(words: string[]): string {
  return words.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function collect(command: string, args: string[], options: RunOptions): Promise<{ stdout: Buffer; stderr: string; code: number | null; timedOut: boolean }> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${command}: cannot start: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(stdout), stderr, code: timedOut ? null : code, timedOut });
    });
    child.stdin.on('error', () => undefined); // the command may exit without reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command, bounded in time; never rejects for a non-zero exit. */
export async function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<CommandOutput> {
  const out = await collect(command, args, options);
  return { ...out, stdout: out.stdout.toString('utf8') };
}

function failure(command: string, args: string[], options: RunOptions, out: { stdout: Buffer | string; stderr: string; code: number | null; timedOut: boolean }): CommandError {
  const outcome = out.timedOut ? `did not finish within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s` : `exited ${out.code}`;
  return new CommandError(commandLine([command, ...args]), outcome, (out.stderr.trim() || out.stdout.toString().trim()));
}

/** Like runCommand(), but throws a CommandError unless the command exits 0; returns its standard output. */
export async function runCommandOk(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const out = await runCommand(command, args, options);
  if (out.code !== 0) throw failure(command, args, options, out);
  return out.stdout;
}

/** Like runCommandOk(), for output that is not text (a tar archive). */
export async function runCommandForBytes(command: string, args: string[], options: RunOptions = {}): Promise<Buffer> {
  const out = await collect(command, args, options);
  if (out.code !== 0) throw failure(command, args, options, out);
  return out.stdout;
}

/** Where `command` is installed (PATH, then the usual system directories), or undefined. */
export function findExecutable(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
