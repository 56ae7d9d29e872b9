/**
 * Finds the block device of an attached EBS volume, waiting for it to appear.
 *
 * Where to look, in order: the requested EC2 device name (a Xen device, or a udev link on Nitro), the Nitro
 * by-id link, then any NVMe namespace whose serial is the volume id. Whatever path leads to an NVMe namespace,
 * its serial must be this volume's: a stale link once mounted the wrong volume. A candidate that fails that
 * check is skipped, so a verified device found another way still wins (udev may be about to fix the link);
 * if the wait ends with only such candidates, it is refused as 'unsafe-device'.
 */
import fs, { type FSWatcher } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../common/errors';
import type { Logger } from '../log';

export interface DiscoveryOptions {
  /** Where device nodes and disk/by-id links live (default /dev). */
  deviceDir?: string;
  /** Where sysfs is mounted (default /sys). */
  sysfsDir?: string;
  /** Accept only block devices (default true); unit tests use regular files in a fake tree. */
  requireBlockDevice?: boolean;
  /** Fallback poll, in case a watch misses an event (default 200 ms). */
  pollIntervalMs?: number;
  logger?: Logger;
}

interface ResolvedOptions {
  deviceDir: string;
  sysfsDir: string;
  requireBlockDevice: boolean;
  pollIntervalMs: number;
  logger?: Logger;
}

/** Why a path that exists was not accepted. */
export interface Rejection {
  candidate: string;
  resolved: string;
  reason: string;
  /** The candidate is another volume's NVMe device (or one whose serial cannot be read). */
  unsafe: boolean;
}

export interface LookResult {
  device?: string;
  rejected: Rejection[];
}

const NVME_NAMESPACE = /^nvme\d+n\d+$/;
const BY_ID_PREFIX = 'nvme-Amazon_Elastic_Block_Store_';

function resolveOptions(options: DiscoveryOptions): ResolvedOptions {
  return {
    deviceDir: options.deviceDir ?? '/dev',
    sysfsDir: options.sysfsDir ?? '/sys',
    requireBlockDevice: options.requireBlockDevice ?? true,
    pollIntervalMs: options.pollIntervalMs ?? 200,
    logger: options.logger,
  };
}

/** "vol-0abc" -> "vol0abc": the NVMe serial and by-id suffix EBS uses. */
export function nvmeSerialOf(volumeId: string): string {
  if (!/^vol-[0-9a-zA-Z]+$/.test(volumeId)) throw new BerthError('internal', `not an EBS volume id: ${JSON.stringify(volumeId)}`);
  return volumeId.replace('-', '');
}

/** Names to try under the device dir for an EC2 device name: "/dev/sdf" -> ["sdf", "xvdf"]. */
export function requestedNames(deviceName: string): string[] {
  const name = deviceName.startsWith('/dev/') ? deviceName.slice('/dev/'.length) : deviceName;
  if (!/^[a-z][a-z0-9]*$/.test(name)) throw new BerthError('internal', `not an EC2 device name: ${JSON.stringify(deviceName)}`);
  return name.startsWith('sd') ? [name, `xvd${name.slice(2)}`] : [name];
}

function byIdDir(deviceDir: string): string {
  return path.join(deviceDir, 'disk', 'by-id');
}

async function readSerial(sysfsDir: string, namespace: string): Promise<string | undefined> {
  try {
    return (await fsp.readFile(path.join(sysfsDir, 'block', namespace, 'device', 'serial'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Resolves one candidate path and checks it; undefined when nothing is there (yet). */
async function examine(
  candidate: string,
  serial: string,
  options: ResolvedOptions,
): Promise<{ device: string } | { rejection: Rejection } | undefined> {
  let resolved: string;
  try {
    resolved = await fsp.realpath(candidate);
  } catch {
    return undefined; // missing, or a dangling link: keep waiting
  }
  const reject = (reason: string, unsafe: boolean) => ({ rejection: { candidate, resolved, reason, unsafe } });
  let stats: fs.Stats;
  try {
    stats = await fsp.stat(resolved);
  } catch {
    return undefined;
  }
  if (options.requireBlockDevice && !stats.isBlockDevice()) return reject('is not a block device', false);
  const name = path.basename(resolved);
  if (NVME_NAMESPACE.test(name)) {
    const found = await readSerial(options.sysfsDir, name);
    if (found === undefined) return reject(`its NVMe serial cannot be read from ${options.sysfsDir}`, true);
    if (found !== serial) return reject(`its NVMe serial is ${found}, not ${serial}`, true);
  }
  return { device: resolved };
}

async function nvmeNamespacesWithSerial(serial: string, options: ResolvedOptions): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(path.join(options.sysfsDir, 'block'));
  } catch {
    return [];
  }
  const matches: string[] = [];
  for (const name of names.filter((entry) => NVME_NAMESPACE.test(entry)).sort()) {
    if ((await readSerial(options.sysfsDir, name)) === serial) matches.push(name);
  }
  return matches;
}

/** One look, no waiting: the verified device if present, and why any other candidate was turned down. */
export async function lookForDevice(volumeId: string, deviceName: string, options: DiscoveryOptions = {}): Promise<LookResult> {
  const resolvedOptions = resolveOptions(options);
  const { deviceDir } = resolvedOptions;
  const serial = nvmeSerialOf(volumeId);
  const rejected: Rejection[] = [];
  const candidates = async function* () {
    for (const name of requestedNames(deviceName)) yield path.join(deviceDir, name);
    yield path.join(byIdDir(deviceDir), `${BY_ID_PREFIX}${serial}`);
    for (const name of await nvmeNamespacesWithSerial(serial, resolvedOptions)) yield path.join(deviceDir, name);
  };
  for await (const candidate of candidates()) {
    const outcome = await examine(candidate, serial, resolvedOptions);
    if (!outcome) continue;
    if ('device' in outcome) {
      if (rejected.length > 0) {
        resolvedOptions.logger?.warn('device found after skipping candidates', { volumeId, deviceName, device: outcome.device, skipped: rejected });
      }
      return { device: outcome.device, rejected };
    }
    if (!rejected.some((seen) => seen.candidate === candidate)) rejected.push(outcome.rejection);
  }
  return { rejected };
}

/** Wakes a waiter when a watched directory changes; watches directories as they come to exist. */
class DirectoryWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private changed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly dirs: string[]) {}

  /** Starts watching any directory not watched yet; a directory that cannot be watched is left to the poll. */
  refresh(): void {
    for (const dir of this.dirs) {
      if (this.watchers.has(dir) || !fs.existsSync(dir)) continue;
      try {
        const watcher = fs.watch(dir, { persistent: true }, () => this.notify());
        watcher.on('error', () => {
          watcher.close();
          this.watchers.delete(dir);
          this.notify();
        });
        this.watchers.set(dir, watcher);
      } catch {
        // ENOENT race or no inotify: the poll covers it.
      }
    }
  }

  private notify(): void {
    this.changed = true;
    this.wake?.();
  }

  /** Resolves on the next change, after pollMs, or on abort, whichever comes first. */
  next(pollMs: number, signal: AbortSignal): Promise<void> {
    if (this.changed || signal.aborted) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  close(): void {
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.wake = undefined;
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function describeRejection(rejection: Rejection): string {
  const target = rejection.resolved === rejection.candidate ? rejection.candidate : `${rejection.candidate} -> ${rejection.resolved}`;
  return `${target} ${rejection.reason}`;
}

function giveUp(volumeId: string, deviceName: string, rejected: Rejection[], elapsedMs: number, deviceDir: string): BerthError {
  const unsafe = rejected.filter((rejection) => rejection.unsafe);
  if (unsafe.length > 0) {
    return new BerthError(
      'unsafe-device',
      `refusing to use the device found for ${volumeId} (requested ${deviceName}): ${unsafe.map(describeRejection).join('; ')}. ` +
        `A stale device link may point at another volume; no device with serial ${nvmeSerialOf(volumeId)} appeared within ${seconds(elapsedMs)}`,
    );
  }
  const notes = rejected.length > 0 ? ` (skipped: ${rejected.map(describeRejection).join('; ')})` : '';
  return new BerthError(
    'device-missing',
    `device for ${volumeId} (requested ${deviceName}) did not appear within ${seconds(elapsedMs)} under ${deviceDir}${notes}`,
  );
}

/**
 * Waits until the volume's device is present and verified, and returns its real path. The first look is
 * immediate; later looks follow changes in the device dir and its disk/by-id (fs.watch), with a slow poll as a
 * safety net. Ends on abort with 'device-missing' (or 'unsafe-device' when only another volume's device was found).
 */
export async function findDevice(volumeId: string, deviceName: string, signal: AbortSignal, options: DiscoveryOptions = {}): Promise<string> {
  const resolvedOptions = resolveOptions(options);
  const { deviceDir, pollIntervalMs } = resolvedOptions;
  const started = Date.now();
  let rejected: Rejection[] = [];
  if (signal.aborted) throw giveUp(volumeId, deviceName, rejected, 0, deviceDir);
  const watch = new DirectoryWatch([deviceDir, path.join(deviceDir, 'disk'), byIdDir(deviceDir)]);
  try {
    for (;;) {
      watch.refresh();
      const look = await lookForDevice(volumeId, deviceName, resolvedOptions);
      if (look.device) return look.device;
      rejected = look.rejected;
      if (signal.aborted) break;
      await watch.next(pollIntervalMs, signal);
      if (signal.aborted) break;
    }
  } finally {
    watch.close();
  }
  throw giveUp(volumeId, deviceName, rejected, Date.now() - started, deviceDir);
}

/**
 * Resolves once this machine no longer shows the volume's device (none of findDevice's candidates leads to it): a
 * detach seen from this side. Follows the device dir as findDevice does; on abort it rejects.
 */
export async function waitDeviceGone(volumeId: string, deviceName: string, signal: AbortSignal, options: DiscoveryOptions = {}): Promise<void> {
  const resolvedOptions = resolveOptions(options);
  const { deviceDir, pollIntervalMs } = resolvedOptions;
  const watch = new DirectoryWatch([deviceDir, path.join(deviceDir, 'disk'), byIdDir(deviceDir)]);
  try {
    for (;;) {
      signal.throwIfAborted();
      watch.refresh();
      if (!(await lookForDevice(volumeId, deviceName, resolvedOptions)).device) return;
      await watch.next(pollIntervalMs, signal);
    }
  } finally {
    watch.close();
  }
}
