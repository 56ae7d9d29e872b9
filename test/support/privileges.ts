/**
 * Tests that need root, loop devices or Docker run in CI. They may skip only when those are truly absent
 * and CI is not set, and then they say so loudly.
 */
import fs from 'node:fs';
import { findExecutable } from './commands';

export function missingRootAndLoop(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control';
  for (const command of ['losetup', 'mkfs.ext4', 'mkfs.xfs', 'blkid', 'mount', 'xfs_io']) {
    if (!findExecutable(command)) return `${command} is not installed`;
  }
  return undefined;
}

/** `describe` when the requirement is met; a loud skip outside CI; a hard failure in CI. */
export function describeWhen(missing: string | undefined, name: string, body: () => void): void {
  if (!missing) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it('has what it needs in CI', () => {
        throw new Error(`${name}: cannot run in CI: ${missing}`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPING "${name}": ${missing}. These tests run in CI. ***\n\n`);
  describe.skip(name, body);
}

export const describeAsRoot = (name: string, body: () => void) => describeWhen(missingRootAndLoop(), name, body);
