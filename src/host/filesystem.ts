/**
 * Filesystems on block devices: probe, format (only an empty device), check before mount, grow to the device.
 *
 * Choices, measured on a 16 GiB sparse loop device:
 * - mkfs keeps its default discard: `-E nodiscard` / `-K` saved nothing measurable, and callers may still pass them.
 * - xfs gets no pre-mount check. `fsck -a -t xfs` runs fsck.xfs, which does nothing by design (XFS replays its log
 *   at mount and verifies metadata at run time). `xfs_repair -n` was not used: it refuses any filesystem with a
 *   dirty log (every unclean detach) and its run time grows with the metadata, past Docker's mount deadline on
 *   large volumes.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { FsType } from '../common/filesystems';
import { BerthError, ValidationError } from '../common/errors';
import type { Logger } from '../log';
import { runChecked, tail, type CommandRunner } from './exec';
import type { OnlineGrowth, Probe } from './types';

/** blkid exit codes (util-linux): 2 = nothing found, 8 = ambivalent (several signatures). */
const BLKID_NOTHING_FOUND = 2;
const BLKID_AMBIVALENT = 8;
/** Bytes at the start of a device that must read as zeros before mkfs: data blkid cannot name is still data. */
const ZERO_CHECK_BYTES = 1024 * 1024;
const SYSFS_BLOCK = '/sys/class/block';

export interface FilesystemDeps {
  run: CommandRunner;
  logger: Logger;
  timeoutMs: number;
}

/** Parses `blkid -o export` output: KEY=value lines, values with backslash escapes. */
export function parseBlkidExport(output: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0) continue;
    values[line.slice(0, at).trim()] = line.slice(at + 1).replace(/\\(.)/g, '$1');
  }
  return values;
}

export class Filesystems {
  constructor(private readonly deps: FilesystemDeps) {}

  private get options() {
    return { timeoutMs: this.deps.timeoutMs };
  }

  async probe(device: string): Promise<Probe> {
    const args = ['-p', '-s', 'TYPE', '-s', 'PTTYPE', '-o', 'export', device];
    const result = await this.deps.run('blkid', args, this.options);
    if (result.exitCode === BLKID_NOTHING_FOUND) return {};
    if (result.exitCode === BLKID_AMBIVALENT) {
      throw new BerthError('unsafe-device', `${device} carries several conflicting signatures (blkid -p: ambivalent result); it needs manual inspection`);
    }
    if (result.exitCode !== 0) {
      throw new BerthError('host', `blkid -p ${device} failed (exit ${result.exitCode}): ${tail(result.stderr || result.stdout)}`);
    }
    const values = parseBlkidExport(result.stdout);
    const probe: Probe = {};
    if (values.TYPE) probe.fsType = values.TYPE;
    if (values.PTTYPE) probe.partitionTable = values.PTTYPE;
    return probe;
  }

  /** mkfs, only after a fresh probe finds nothing and the device starts with zeros. Never formats over anything. */
  async format(device: string, fsType: FsType, mkfsOptions: string[]): Promise<void> {
    for (const option of mkfsOptions) {
      if (option === '-F' || option === '-f' || option.startsWith('/')) {
        throw new ValidationError('mkfsOptions', `mkfs option ${JSON.stringify(option)} is not allowed (berth adds force itself, and picks the device)`);
      }
    }
    const found = await this.probe(device);
    if (found.fsType || found.partitionTable) {
      const what = [found.fsType && `a ${found.fsType} filesystem`, found.partitionTable && `a ${found.partitionTable} partition table`]
        .filter(Boolean)
        .join(' and ');
      throw new BerthError('unsafe-device', `refusing to format ${device}: it already holds ${what}`);
    }
    if (!(await startsWithZeros(device, ZERO_CHECK_BYTES))) {
      throw new BerthError(
        'unsafe-device',
        `refusing to format ${device}: blkid finds no filesystem, but its first MiB holds data (unknown format or leftovers); inspect or wipe it by hand`,
      );
    }
    const [command, args] =
      fsType === 'ext4' ? ['mkfs.ext4', ['-F', '-m0', ...mkfsOptions, device]] : ['mkfs.xfs', ['-f', ...mkfsOptions, device]];
    const started = Date.now();
    await runChecked(this.deps.run, command, args, this.options);
    this.deps.logger.info('formatted device', { device, fsType, mkfsOptions, ms: Date.now() - started });
  }

  /** The `fsck -a` step before a read-write mount. Errors left uncorrected are a 'filesystem' error. */
  async check(device: string, fsType: string): Promise<void> {
    if (!['ext2', 'ext3', 'ext4'].includes(fsType)) {
      this.deps.logger.debug('no pre-mount check for this filesystem type', { device, fsType });
      return;
    }
    const result = await this.deps.run('e2fsck', ['-p', device], this.options);
    const output = tail(`${result.stdout}\n${result.stderr}`);
    // 0 clean, 1 errors corrected, 2 corrected and a reboot advised (only matters for the root filesystem).
    if (result.exitCode <= 2) {
      if (result.exitCode > 0) this.deps.logger.warn('fsck corrected filesystem errors', { device, fsType, exitCode: result.exitCode, output });
      return;
    }
    if (result.exitCode === 4) {
      throw new BerthError(
        'filesystem',
        `the ${fsType} filesystem on ${device} has errors that fsck could not repair automatically; it was not mounted. ` +
          `Repair it by hand (e2fsck -f on a host where the volume is attached but not mounted), then retry. fsck said: ${output}`,
      );
    }
    throw new BerthError('filesystem', `fsck of ${device} could not run to completion (e2fsck exit ${result.exitCode}); it was not mounted. fsck said: ${output}`);
  }

  /**
   * Grows an ext4 filesystem to fill its device, offline: the kernel grows a mounted ext4 only for a process with
   * CAP_SYS_RESOURCE, which a managed plugin cannot count on. Run it after the pre-mount check, before mounting.
   */
  async growBeforeMount(device: string, fsType: string): Promise<void> {
    if (fsType !== 'ext4') return;
    const deviceBytes = await this.deviceSize(device);
    const fs = await this.ext4Size(device);
    if (deviceBytes - fs.bytes < fs.blockSize) return;
    // resize2fs insists on a forced check first when the filesystem was mounted since its last one.
    const forced = await this.deps.run('e2fsck', ['-f', '-p', device], this.options);
    if (forced.exitCode > 2) {
      throw new BerthError('filesystem', `cannot grow ${device}: e2fsck -f exit ${forced.exitCode}: ${tail(`${forced.stdout}\n${forced.stderr}`)}`);
    }
    await runChecked(this.deps.run, 'resize2fs', [device], this.options);
    this.deps.logger.info('grew filesystem to the device size', { device, fsType, fromBytes: fs.bytes, deviceBytes });
  }

  /** Grows an xfs filesystem mounted at target to fill its device (xfs grows only while mounted). */
  async growAfterMount(device: string, target: string, fsType: string): Promise<void> {
    if (fsType !== 'xfs') return;
    const deviceBytes = await this.deviceSize(device);
    const fs = await this.xfsSize(target);
    if (deviceBytes - fs.bytes < fs.blockSize) return;
    await runChecked(this.deps.run, 'xfs_growfs', ['-d', target], this.options);
    this.deps.logger.info('grew filesystem to the device size', { device, target, fsType, fromBytes: fs.bytes, deviceBytes });
  }

  /**
   * Grows a mounted filesystem to fill its device while containers go on using it. ext4 grows online only for a
   * process with CAP_SYS_RESOURCE: without it the kernel says EPERM, answered as 'not-permitted' (the offline grow
   * before the next mount needs no such capability).
   */
  async growMounted(device: string, target: string, fsType: string): Promise<OnlineGrowth> {
    const deviceBytes = await this.deviceSize(device);
    if (fsType === 'xfs') {
      const before = await this.xfsSize(target);
      if (deviceBytes - before.bytes < before.blockSize) return 'unchanged';
      await this.growAfterMount(device, target, fsType);
      return 'grown';
    }
    if (fsType !== 'ext4') return 'unchanged';
    const before = await this.ext4Size(device);
    if (deviceBytes - before.bytes < before.blockSize) return 'unchanged';
    const result = await this.deps.run('resize2fs', [device], this.options);
    const output = tail(`${result.stderr}\n${result.stdout}`);
    // resize2fs words the kernel's EPERM as "Permission denied to resize filesystem".
    if (result.exitCode !== 0 && /Operation not permitted|Permission denied to resize/i.test(output)) return 'not-permitted';
    if (result.exitCode !== 0) throw new BerthError('filesystem', `resize2fs ${device} (online, mounted at ${target}) failed (exit ${result.exitCode}): ${output}`);
    this.deps.logger.info('grew mounted filesystem to the device size', { device, target, fsType, fromBytes: before.bytes, deviceBytes });
    return 'grown';
  }

  /** From sysfs (no process to start), else blockdev. */
  async deviceSize(device: string): Promise<number> {
    const fromSysfs = await sysfsDeviceBytes(device);
    if (fromSysfs !== undefined) return fromSysfs;
    const { stdout } = await runChecked(this.deps.run, 'blockdev', ['--getsize64', device], this.options);
    const bytes = Number(stdout.trim());
    if (!Number.isSafeInteger(bytes)) throw new BerthError('host', `blockdev --getsize64 ${device} printed ${JSON.stringify(stdout.trim())}`);
    return bytes;
  }

  /** From the superblock (no process to start), else dumpe2fs -h. */
  private async ext4Size(device: string): Promise<{ bytes: number; blockSize: number }> {
    const fromSuperblock = await ext4SuperblockSize(device);
    if (fromSuperblock) return fromSuperblock;
    const { stdout } = await runChecked(this.deps.run, 'dumpe2fs', ['-h', device], this.options);
    const blocks = /^Block count:\s+(\d+)/m.exec(stdout);
    const blockSize = /^Block size:\s+(\d+)/m.exec(stdout);
    if (!blocks || !blockSize) throw new BerthError('host', `cannot read the ext4 size of ${device} from dumpe2fs -h`);
    return { bytes: Number(blocks[1]) * Number(blockSize[1]), blockSize: Number(blockSize[1]) };
  }

  private async xfsSize(target: string): Promise<{ bytes: number; blockSize: number }> {
    const { stdout } = await runChecked(this.deps.run, 'xfs_info', [target], this.options);
    const data = /^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)/m.exec(stdout);
    if (!data) throw new BerthError('host', `cannot read the xfs size of ${target} from xfs_info`);
    return { bytes: Number(data[1]) * Number(data[2]), blockSize: Number(data[1]) };
  }
}

/** /sys/class/block/<name>/size counts 512-byte sectors whatever the device's block size; undefined if unreadable. */
async function sysfsDeviceBytes(device: string): Promise<number | undefined> {
  try {
    const name = path.basename(await fsp.realpath(device));
    const sectors = Number((await fsp.readFile(path.join(SYSFS_BLOCK, name, 'size'), 'utf8')).trim());
    return Number.isSafeInteger(sectors) && sectors > 0 ? sectors * 512 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Block count and size from an ext2/3/4 superblock (1 KiB at offset 1 KiB): s_blocks_count_lo at 0x04,
 * s_log_block_size at 0x18, magic 0xEF53 at 0x38, s_feature_incompat at 0x60 (64bit = 0x80), s_blocks_count_hi
 * at 0x150. undefined when the magic is not there or the device cannot be read.
 */
async function ext4SuperblockSize(device: string): Promise<{ bytes: number; blockSize: number } | undefined> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(device, 'r');
    const superblock = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(superblock, 0, 1024, 1024);
    if (bytesRead < 1024 || superblock.readUInt16LE(0x38) !== 0xef53) return undefined;
    const logBlockSize = superblock.readUInt32LE(0x18);
    if (logBlockSize > 6) return undefined;
    const blockSize = 1024 << logBlockSize;
    const high = superblock.readUInt32LE(0x60) & 0x80 ? superblock.readUInt32LE(0x150) : 0;
    const blocks = high * 2 ** 32 + superblock.readUInt32LE(0x04);
    return { bytes: blocks * blockSize, blockSize };
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

async function startsWithZeros(device: string, length: number): Promise<boolean> {
  const handle = await fsp.open(device, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead).equals(Buffer.alloc(bytesRead));
  } finally {
    await handle.close();
  }
}
