/** What the volume service needs from this machine. Implemented by src/host/linux.ts. */
import type { FsType } from '../common/filesystems';

export type OnlineGrowth = 'grown' | 'unchanged' | 'not-permitted';

export interface Probe {
  /** Filesystem type found by `blkid -p`, if any. */
  fsType?: string;
  /** Partition table type found by `blkid -p`, if any. */
  partitionTable?: string;
}

export interface DataDirOwner {
  uid?: number;
  gid?: number;
  mode: number;
}

export interface Host {
  /**
   * Waits (bounded by signal) for the block device of an attached volume under the device dir and returns its
   * real path: the requested device name if it exists, else the Nitro by-id link, else an NVMe device whose serial
   * matches. When the device has an NVMe serial that is not this volume's, it refuses (BerthError 'unsafe-device').
   */
  findDevice(volumeId: string, deviceName: string, signal: AbortSignal): Promise<string>;
  /** Resolves once the volume's device (as findDevice would find it) is no longer on this machine; rejects on abort. */
  deviceGone(volumeId: string, deviceName: string, signal: AbortSignal): Promise<void>;
  probe(devicePath: string): Promise<Probe>;
  /** Formats only when a fresh probe finds neither a filesystem nor a partition table; otherwise throws 'unsafe-device'. */
  format(devicePath: string, fsType: FsType, mkfsOptions: string[]): Promise<void>;
  /** `fsck -a`; exit 4 (errors left uncorrected) throws 'filesystem'. */
  check(devicePath: string, fsType: string): Promise<void>;
  /** Creates target, mounts (xfs with nouuid), makes it shared. */
  mount(devicePath: string, target: string, fsType: string): Promise<void>;
  unmount(target: string): Promise<void>;
  /** Binds a directory of a mounted filesystem at target (read-only when asked); idempotent for the same source. */
  bindMount(source: string, target: string, readonly: boolean): Promise<void>;
  /** Every place this device's filesystem is mounted in this mount namespace: its own mount and its binds. */
  mountTargets(devicePath: string): Promise<string[]>;
  /** Grows an ext4 filesystem to its larger device while unmounted (no CAP_SYS_RESOURCE needed). */
  growBeforeMount(devicePath: string, fsType: string): Promise<void>;
  /** Grows an xfs filesystem, mounted at target, to its larger device. */
  growAfterMount(devicePath: string, target: string, fsType: string): Promise<void>;
  /**
   * Grows the filesystem mounted at target to fill its device, online (containers keep using it). 'not-permitted':
   * the kernel refused (ext4 needs CAP_SYS_RESOURCE); the offline grow before the next mount will do it.
   */
  growMounted(devicePath: string, target: string, fsType: string): Promise<OnlineGrowth>;
  /** The block device's size as this machine sees it now. */
  deviceBytes(devicePath: string): Promise<number>;
  /**
   * True while the device is mounted anywhere on this machine, in any mount namespace (a container may hold the
   * filesystem after our own mount of it is gone): such a device must not be checked or resized, only mounted.
   */
  deviceInUse(devicePath: string): Promise<boolean>;
  /** The device mounted at target (from the mount table), if any. */
  mountedSource(target: string): Promise<string | undefined>;
  /**
   * Removes a volume's mount directory if it is an empty directory and nothing is mounted there; anything else
   * (content, a mount, not a directory, already gone) is left as it is. Never removes content.
   */
  removeMountDir(target: string): Promise<void>;
  /** Creates dir (and parents) if missing and applies owner/mode when created. */
  prepareDataDir(dir: string, owner: DataDirOwner): Promise<void>;
}
