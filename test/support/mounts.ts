/** This process's mount table (/proc/self/mountinfo): what is mounted where, and unmounting what a run left. */
import fs from 'node:fs';
import { runCommand } from './commands';

export interface MountEntry {
  /** Where it is mounted. */
  point: string;
  /** Filesystem type, e.g. ext4, cgroup2. */
  type: string;
  /** What is mounted, e.g. /dev/loop3. */
  source: string;
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses a mountinfo text (this process's by default; a node's namespace has its own). */
export function mountTable(mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [before, after = ''] = line.split(' - ');
      const [type = '', source = ''] = after.split(' ');
      return { point: unescapeMountPath(before.split(' ')[4]), type, source: unescapeMountPath(source) };
    });
}

/** Mount points at or under any of the prefixes, each once, deepest first. */
export function mountsUnder(prefixes: string | string[]): string[] {
  const roots = (Array.isArray(prefixes) ? prefixes : [prefixes]).map((prefix) => prefix.replace(/(.)\/+$/, '$1'));
  const points = mountTable()
    .map(({ point }) => point)
    .filter((point) => roots.some((root) => point === root || point.startsWith(`${root}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export function isMounted(target: string): boolean {
  return mountsUnder(target).includes(target);
}

/** Mount points whose source is one of the devices (e.g. the loop devices of a run's volumes). */
export function mountsOfDevices(devices: string[]): string[] {
  return [...new Set(mountTable().filter(({ source }) => devices.includes(source)).map(({ point }) => point))];
}

/** Unmounts every mount at or under the prefixes, deepest first (lazily if busy); returns those still mounted. */
export async function unmountAllUnder(prefixes: string | string[]): Promise<string[]> {
  for (const point of mountsUnder(prefixes)) {
    const out = await runCommand('umount', [point], { timeoutMs: 30_000 });
    if (out.code !== 0) await runCommand('umount', ['-l', point], { timeoutMs: 30_000 });
  }
  return mountsUnder(prefixes);
}
