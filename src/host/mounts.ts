/** Mounting and unmounting filesystems, with the mount table as the source of truth. */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../common/errors';
import type { Logger } from '../log';
import { runChecked, tail, type CommandRunner } from './exec';
import { MOUNTINFO_PATH, isShared, mountAt, readMountInfo, type MountEntry } from './mountinfo';

export interface MountDeps {
  run: CommandRunner;
  logger: Logger;
  timeoutMs: number;
  mountInfoPath?: string;
}

/** Pauses between umount attempts while the target is busy (a process closing its files): about 1.5 s in all. */
const BUSY_RETRY_DELAYS_MS = [50, 100, 200, 400, 750];
/** Stacked mounts at one target are peeled one by one; more than this means something else keeps mounting. */
const MAX_STACKED_MOUNTS = 8;

/** Linux dev_t to major:minor (glibc's encoding, which Node's stat rdev carries as a number). */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return {
    major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0),
    minor: ((low & 0xff) | ((low >>> 12) & 0xfff00) | ((high & 0xfff) << 20)) >>> 0,
  };
}

export class Mounts {
  constructor(private readonly deps: MountDeps) {}

  private get options() {
    return { timeoutMs: this.deps.timeoutMs };
  }

  private table(): Promise<MountEntry[]> {
    return readMountInfo(this.deps.mountInfoPath ?? MOUNTINFO_PATH);
  }

  async mountedSource(target: string): Promise<string | undefined> {
    return mountAt(await this.table(), target)?.source;
  }

  /** Creates target, mounts device there (xfs with nouuid) and makes it shared. Idempotent for the same device. */
  async mount(device: string, target: string, fsType: string): Promise<void> {
    const mountPoint = path.resolve(target);
    await fsp.mkdir(mountPoint, { recursive: true });
    const existing = mountAt(await this.table(), mountPoint);
    if (existing) {
      const { major, minor } = deviceNumbers((await fsp.stat(device)).rdev);
      if (existing.major !== major || existing.minor !== minor) {
        throw new BerthError('host', `${mountPoint} already has ${existing.source} (${existing.fsType}) mounted; refusing to mount ${device} over it`);
      }
      if (!isShared(existing)) await this.makeShared(mountPoint);
      this.deps.logger.debug('already mounted', { device, target: mountPoint });
      return;
    }
    // One mount(8) run mounts and then makes the mount shared (util-linux >= 2.23): one process less per Mount.
    const args = ['-t', fsType, ...(fsType === 'xfs' ? ['-o', 'nouuid'] : []), '--make-shared', device, mountPoint];
    try {
      await runChecked(this.deps.run, 'mount', args, { ...this.options, errorCode: 'filesystem' });
    } catch (err) {
      // The propagation change comes after the mount itself: a failure there leaves the filesystem mounted.
      if (mountAt(await this.table(), mountPoint)) {
        await this.unmount(mountPoint).catch((undoErr: unknown) =>
          this.deps.logger.error('could not undo a mount whose --make-shared failed', { target: mountPoint, err: undoErr }),
        );
      }
      throw err;
    }
    this.deps.logger.info('mounted', { device, target: mountPoint, fsType });
  }

  /** Binds source (a directory of a mounted filesystem) at target, read-only when asked. Idempotent for the same source. */
  async bindMount(source: string, target: string, readonly: boolean): Promise<void> {
    const mountPoint = path.resolve(target);
    await fsp.mkdir(mountPoint, { recursive: true });
    const existing = mountAt(await this.table(), mountPoint);
    if (existing) {
      const wanted = (await fsp.stat(source)).dev;
      if ((await fsp.stat(mountPoint)).dev !== wanted) throw new BerthError('host', `${mountPoint} already has ${existing.source} mounted; refusing to bind ${source} over it`);
      return;
    }
    await runChecked(this.deps.run, 'mount', ['--bind', source, mountPoint], this.options);
    if (readonly) await runChecked(this.deps.run, 'mount', ['-o', 'remount,bind,ro', mountPoint], this.options);
    this.deps.logger.info('bound', { source, target: mountPoint, readonly });
  }

  /** Where the filesystem of this device is mounted in this mount namespace (its own mount and every bind of it). */
  async mountTargets(device: string): Promise<string[]> {
    const { major, minor } = deviceNumbers((await fsp.stat(device)).rdev);
    return (await this.table()).filter((entry) => entry.major === major && entry.minor === minor).map((entry) => entry.mountPoint);
  }

  private async makeShared(mountPoint: string): Promise<void> {
    await runChecked(this.deps.run, 'mount', ['--make-shared', mountPoint], this.options);
  }

  /** rmdir(2) removes only an empty directory; a mount point is skipped first (its own root may look empty). */
  async removeMountDir(target: string): Promise<void> {
    const mountPoint = path.resolve(target);
    if (mountAt(await this.table(), mountPoint)) return;
    try {
      await fsp.rmdir(mountPoint);
      this.deps.logger.debug('removed empty mount directory', { target: mountPoint });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY' || code === 'ENOTDIR') return;
      throw new BerthError('host', `cannot remove the empty mount directory ${mountPoint}: ${(err as Error).message}`);
    }
  }

  /** Unmounts target (every mount stacked there). Not mounted is success; still busy after retries is 'host'. */
  async unmount(target: string): Promise<void> {
    const mountPoint = path.resolve(target);
    let busyRetries = 0;
    for (let peeled = 0; peeled <= MAX_STACKED_MOUNTS; ) {
      if (!mountAt(await this.table(), mountPoint)) return;
      const result = await this.deps.run('umount', [mountPoint], this.options);
      const output = tail(`${result.stderr}\n${result.stdout}`);
      if (result.exitCode === 0 || /not mounted/i.test(output)) {
        peeled += 1;
        continue;
      }
      if (/busy/i.test(output) && busyRetries < BUSY_RETRY_DELAYS_MS.length) {
        await sleep(BUSY_RETRY_DELAYS_MS[busyRetries]);
        busyRetries += 1;
        continue;
      }
      const why = /busy/i.test(output) ? `still in use after ${busyRetries + 1} tries (a process has files open there): ${output}` : output;
      throw new BerthError('host', `cannot unmount ${mountPoint}: ${why}`);
    }
    throw new BerthError('host', `cannot unmount ${mountPoint}: more than ${MAX_STACKED_MOUNTS} mounts are stacked there`);
  }
}
