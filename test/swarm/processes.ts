/**
 * What a swarm node leaves on the machine, found through /proc and the cgroup trees: its processes (everything in
 * its mount namespace and their descendants: containers and plugins live in namespaces of their own), its cgroups.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cgroupMounts } from '../support/dockerd';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** The namespace a process is in, e.g. "mnt:[4026532315]"; undefined once it has exited. */
export function namespaceOf(pid: number, kind: 'mnt' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie has no namespaces left: it is dead for our purposes.
    return namespaceOf(pid, 'mnt') !== undefined;
  } catch {
    return false;
  }
}

function parentMap(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const pid of pids()) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  return parentOf;
}

/** Every process in the namespace, and every descendant of those (whatever namespaces they moved to). */
export function processesOfNamespace(namespace: string, kind: 'mnt' | 'net' = 'mnt'): number[] {
  const inside = pids().filter((pid) => pid !== process.pid && namespaceOf(pid, kind) === namespace);
  const parentOf = parentMap();
  const found = new Set(inside);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!found.has(pid) && found.has(parent)) {
        found.add(pid);
        grew = true;
      }
    }
  }
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
export async function killAndWait(targets: number[], timeoutMs = 10_000): Promise<number[]> {
  for (const pid of targets) signal(pid, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  let alive = targets.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isAlive);
  }
  return alive;
}

function removeCgroupTree(dir: string): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return true; // not there
  }
  for (const entry of entries) if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  try {
    fs.rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Removes the cgroup `name` (and its empty children) from every hierarchy; returns the ones still in use. */
export function removeCgroups(name: string): string[] {
  const left: string[] = [];
  for (const hierarchy of cgroupMounts()) {
    const dir = path.join(hierarchy, name);
    if (!removeCgroupTree(dir)) left.push(dir);
  }
  return left;
}

/** Mount points (as this process sees them) at or under any of the prefixes, deepest first. */
export function hostMountsUnder(prefixes: string[]): string[] {
  const decode = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => decode(line.split(' ')[4]))
    .filter((point) => prefixes.some((prefix) => point === prefix || point.startsWith(`${prefix}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
