/** Finds and removes mounts a test left under its own directories (the daemon never unmounts on shutdown). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function mountsUnder(root: string): string[] {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMountPath(line.split(' ')[4]))
    .filter((target) => target === root || target.startsWith(prefix));
}

export function unmountAllUnder(root: string): void {
  for (const target of mountsUnder(root).sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}

export function isMounted(target: string): boolean {
  return mountsUnder(target).includes(target);
}
