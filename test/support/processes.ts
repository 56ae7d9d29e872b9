/**
 * Processes seen from outside: children we spawned (stop, wait for exit), and any process through /proc (alive or
 * a zombie, its command line, parent, namespaces, cgroup), to find and end what a test or the demo left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { waitFor } from './poll';

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false if it is still running after `ms`. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (!(await waitForExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitForExit(child, 10_000);
  }
}

/**
 * Starts a long-running process that outlives this one: its own session (Ctrl-C here does not reach it), stdin
 * closed, stdout and stderr appended to files. Returns its pid.
 */
export function startInBackground(command: string, args: string[], options: { stdoutFile: string; stderrFile?: string; env?: NodeJS.ProcessEnv }): number {
  const out = fs.openSync(options.stdoutFile, 'a');
  const err = options.stderrFile && options.stderrFile !== options.stdoutFile ? fs.openSync(options.stderrFile, 'a') : out;
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, err], env: options.env ?? process.env });
    child.on('error', () => undefined); // reported by the caller's readiness check
    child.unref();
    return child.pid ?? -1;
  } finally {
    fs.closeSync(out);
    if (err !== out) fs.closeSync(err);
  }
}

/** Every pid in /proc. */
export function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The command line's words, or undefined once the process is gone. */
export function commandLineOf(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

export function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The namespace a process is in, e.g. "mnt:[4026532315]"; undefined once it has exited. */
export function namespaceOf(pid: number, kind: 'mnt' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Pids (not this process) whose command line contains `needle`, e.g. containerd shims naming an exec root. */
export function processesMentioning(needle: string): number[] {
  return allPids().filter((pid) => pid !== process.pid && (commandLineOf(pid)?.join(' ').includes(needle) ?? false));
}

/** Pids whose cgroup path contains `needle` (a plugin's cgroup is named by its id), optionally running `argument`. */
export function processesInCgroup(needle: string, argument?: string): number[] {
  return allPids().filter((pid) => {
    try {
      if (argument && !commandLineOf(pid)?.includes(argument)) return false;
      return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(needle);
    } catch {
      return false; // exited meanwhile
    }
  });
}

/** Every descendant of the given pids, found through the parent pid of each process. */
export function descendantsOf(roots: number[]): number[] {
  const parents = new Map(allPids().map((pid) => [pid, parentOf(pid)] as const));
  const found = new Set<number>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (parent !== undefined && !found.has(pid) && (roots.includes(parent) || found.has(parent))) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

/** Every process in the namespace and every descendant of those (whatever namespaces they moved to), not this one. */
export function processesOfNamespace(namespace: string, kind: 'mnt' | 'net' = 'mnt'): number[] {
  const inside = allPids().filter((pid) => pid !== process.pid && namespaceOf(pid, kind) === namespace);
  const found = new Set([...inside, ...descendantsOf(inside)]);
  found.delete(process.pid);
  return [...found];
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** SIGKILLs the processes and waits (bounded) until none is alive; returns those still alive. */
export async function killAndWait(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  for (const pid of pids) signal(pid, 'SIGKILL');
  const stillAlive = () => pids.filter(isAlive);
  await waitFor(`processes ${pids.join(', ')} to exit`, () => stillAlive().length === 0, { timeoutMs, intervalMs: 100 }).catch(() => undefined);
  return stillAlive();
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Resolves true when the process is gone. */
export async function stopProcess(pid: number, graceMs = 30_000): Promise<boolean> {
  if (!isAlive(pid)) return true;
  signal(pid, 'SIGTERM');
  const gone = () => waitFor(`process ${pid} to exit`, () => !isAlive(pid), { timeoutMs: graceMs }).then(() => true, () => false);
  if (await gone()) return true;
  return (await killAndWait([pid])).length === 0;
}

/**
 * The pid in `pidFile` when that process is alive and its command line contains `mention` (a pid file can outlive
 * its process, and the pid be reused by an unrelated one); else undefined.
 */
export function livePid(pidFile: string, mention: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  // A zombie has an empty command line, so it never matches.
  return commandLineOf(pid)?.join(' ').includes(mention) ? pid : undefined;
}

