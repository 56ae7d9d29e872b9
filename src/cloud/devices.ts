/**
 * Chooses the device name for an AttachVolume call.
 *
 * Names, in the order tried:
 *   /dev/xvdf .. /dev/xvdz     (21)
 *   /dev/xvdaa .. /dev/xvdaz   (26)
 *   /dev/xvdba .. /dev/xvdbz   (26)
 *   with useLargeDeviceRange also /dev/xvdca .. /dev/xvdcz (26), REX-Ray's /dev/xvd[b-c][a-z]
 * Never /dev/xvda (root), /dev/xvdb-/dev/xvde (instance store and old root names) or any /dev/sd* name.
 *
 * A name is skipped when it is in use on the instance (DescribeInstances BlockDeviceMappings; EC2 treats
 * /dev/sdX and /dev/xvdX as one slot), reserved by an attach in flight, or marked likely-bad after EC2 said
 * "already in use" (ghost attachments linger, so such a name is avoided for an hour).
 */
import { Mutex } from 'async-mutex';
import { BerthError } from '../common/errors';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');

export function deviceNames(useLargeDeviceRange: boolean): string[] {
  const names = [
    ...LETTERS.slice(LETTERS.indexOf('f')).map((letter) => `/dev/xvd${letter}`),
    ...LETTERS.map((letter) => `/dev/xvda${letter}`),
    ...LETTERS.map((letter) => `/dev/xvdb${letter}`),
  ];
  if (useLargeDeviceRange) names.push(...LETTERS.map((letter) => `/dev/xvdc${letter}`));
  return names;
}

/** "/dev/sdf" and "sdf" name the same slot as "/dev/xvdf"; a partition suffix ("/dev/sda1") is the disk's slot. */
export function canonicalDeviceName(name: string): string {
  const base = name.replace(/^\/dev\//, '');
  const match = /^(?:sd|xvd)([a-z]+)\d*$/.exec(base);
  return match ? `/dev/xvd${match[1]}` : `/dev/${base}`;
}

export const LIKELY_BAD_MS = 60 * 60 * 1000;

export interface DeviceAllocatorOptions {
  useLargeDeviceRange: boolean;
  now?: () => number;
}

export class DeviceAllocator {
  private readonly names: string[];
  private readonly reservations = new Map<string, string>();
  private readonly likelyBad = new Map<string, number>();
  private readonly lock = new Mutex();
  private readonly now: () => number;

  constructor(options: DeviceAllocatorOptions) {
    this.names = deviceNames(options.useLargeDeviceRange);
    this.now = options.now ?? Date.now;
  }

  /**
   * Reserves a free name for `volumeId` (replacing any earlier reservation of that volume).
   * `namesInUse` lists the instance's current block device mappings; it is read under the lock, so two
   * concurrent calls can never pick the same name.
   */
  async allocate(volumeId: string, namesInUse: () => Promise<Iterable<string>>): Promise<string> {
    return this.lock.runExclusive(async () => {
      this.reservations.delete(volumeId);
      const taken = new Set<string>();
      for (const name of await namesInUse()) taken.add(canonicalDeviceName(name));
      for (const name of this.reservations.values()) taken.add(name);
      const now = this.now();
      for (const [name, until] of this.likelyBad) if (until <= now) this.likelyBad.delete(name);
      const free = this.names.find((name) => !taken.has(name) && !this.likelyBad.has(name));
      if (!free) {
        throw new BerthError(
          'capacity',
          `no free device name for ${volumeId}: ${taken.size} of ${this.names.length} names are in use or being attached` +
            ` and ${this.likelyBad.size} were refused by EC2 within the last hour` +
            ' (EBS_USELARGEDEVICERANGE=true adds 26 more)',
        );
      }
      this.reservations.set(volumeId, free);
      return free;
    });
  }

  /** Frees the name held for `volumeId` (after a failed attach, or once the volume is detached). */
  release(volumeId: string): void {
    this.reservations.delete(volumeId);
  }

  /** EC2 said the name is already in use although the instance did not list it: avoid it for an hour. */
  markLikelyBad(name: string): void {
    this.likelyBad.set(canonicalDeviceName(name), this.now() + LIKELY_BAD_MS);
  }

  reservedFor(volumeId: string): string | undefined {
    return this.reservations.get(volumeId);
  }
}
