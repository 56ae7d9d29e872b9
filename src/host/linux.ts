/** The Host of a Linux machine: devices, filesystems and mounts, composed from the modules beside it. */
import fsp from 'node:fs/promises';
import type { FsType } from '../common/filesystems';
import { BerthError } from '../common/errors';
import type { Logger } from '../log';
import { findDevice, waitDeviceGone, type DiscoveryOptions } from './discovery';
import { DEFAULT_COMMAND_TIMEOUT_MS, runCommand, type CommandRunner } from './exec';
import { Filesystems } from './filesystem';
import { Mounts } from './mounts';
import type { DataDirOwner, Host, OnlineGrowth, Probe } from './types';

export interface LinuxHostOptions {
  /** Where device nodes and disk/by-id links are looked up (Config.deviceDir). */
  deviceDir: string;
  sysfsDir?: string;
  logger: Logger;
  /** Bound of each external command (default 60 s). */
  commandTimeoutMs?: number;
  /** How commands run; the real runner unless a test needs another. */
  run?: CommandRunner;
  mountInfoPath?: string;
  /** Fallback poll while waiting for a device (default 200 ms). */
  devicePollMs?: number;
}

export class LinuxHost implements Host {
  private readonly filesystems: Filesystems;
  private readonly mounts: Mounts;

  constructor(private readonly options: LinuxHostOptions) {
    const deps = {
      run: options.run ?? runCommand,
      logger: options.logger,
      timeoutMs: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    };
    this.filesystems = new Filesystems(deps);
    this.mounts = new Mounts({ ...deps, mountInfoPath: options.mountInfoPath });
  }

  findDevice(volumeId: string, deviceName: string, signal: AbortSignal): Promise<string> {
    return findDevice(volumeId, deviceName, signal, this.discovery());
  }

  deviceGone(volumeId: string, deviceName: string, signal: AbortSignal): Promise<void> {
    return waitDeviceGone(volumeId, deviceName, signal, this.discovery());
  }

  private discovery(): DiscoveryOptions {
    const { deviceDir, sysfsDir, devicePollMs, logger } = this.options;
    return { deviceDir, sysfsDir, pollIntervalMs: devicePollMs, requireBlockDevice: true, logger };
  }

  probe(devicePath: string): Promise<Probe> {
    return this.filesystems.probe(devicePath);
  }

  format(devicePath: string, fsType: FsType, mkfsOptions: string[]): Promise<void> {
    return this.filesystems.format(devicePath, fsType, mkfsOptions);
  }

  check(devicePath: string, fsType: string): Promise<void> {
    return this.filesystems.check(devicePath, fsType);
  }

  mount(devicePath: string, target: string, fsType: string): Promise<void> {
    return this.mounts.mount(devicePath, target, fsType);
  }

  unmount(target: string): Promise<void> {
    return this.mounts.unmount(target);
  }

  bindMount(source: string, target: string, readonly: boolean): Promise<void> {
    return this.mounts.bindMount(source, target, readonly);
  }

  mountTargets(devicePath: string): Promise<string[]> {
    return this.mounts.mountTargets(devicePath);
  }

  /** An exclusive open of a block device fails with EBUSY while any filesystem on it is mounted. */
  async deviceInUse(devicePath: string): Promise<boolean> {
    try {
      const handle = await fsp.open(devicePath, fsp.constants.O_RDONLY | fsp.constants.O_EXCL);
      await handle.close();
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') return true;
      // Gone (the volume was detached): nothing can hold it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new BerthError('host', `cannot open ${devicePath}: ${(err as Error).message}`);
    }
  }

  growBeforeMount(devicePath: string, fsType: string): Promise<void> {
    return this.filesystems.growBeforeMount(devicePath, fsType);
  }

  growAfterMount(devicePath: string, target: string, fsType: string): Promise<void> {
    return this.filesystems.growAfterMount(devicePath, target, fsType);
  }

  growMounted(devicePath: string, target: string, fsType: string): Promise<OnlineGrowth> {
    return this.filesystems.growMounted(devicePath, target, fsType);
  }

  deviceBytes(devicePath: string): Promise<number> {
    return this.filesystems.deviceSize(devicePath);
  }

  mountedSource(target: string): Promise<string | undefined> {
    return this.mounts.mountedSource(target);
  }

  removeMountDir(target: string): Promise<void> {
    return this.mounts.removeMountDir(target);
  }

  prepareDataDir(dir: string, owner: DataDirOwner): Promise<void> {
    return prepareDataDir(dir, owner);
  }
}

/**
 * Creates dir with owner and mode when missing. An existing directory is left as it is (a REX-Ray volume's /data
 * keeps its owner); an existing symlink or file is refused: handing it to Docker would expose whatever it points at.
 */
export async function prepareDataDir(dir: string, { uid, gid, mode }: DataDirOwner): Promise<void> {
  const existing = await fsp.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing?.isDirectory()) return;
  if (existing) {
    const what = existing.isSymbolicLink() ? 'a symbolic link' : 'not a directory';
    throw new BerthError('host', `${dir} exists but is ${what}; refusing to give it to containers (make it a plain directory)`);
  }
  await fsp.mkdir(dir, { recursive: true, mode });
  if (uid !== undefined || gid !== undefined) await fsp.chown(dir, uid ?? -1, gid ?? -1);
  // mkdir's mode passes through the umask; set it exactly.
  await fsp.chmod(dir, mode);
}
