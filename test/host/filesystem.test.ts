/**
 * The Linux host on real loop devices: probe, format safety, fsck, mount/unmount, grow, data dir, device discovery.
 * Every loop device, mount and temp file is removed after each test, whether it passed or not.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { BerthError } from '../../src/common/errors';
import { runCommand, type CommandRunner } from '../../src/host/exec';
import { LinuxHost, prepareDataDir } from '../../src/host/linux';
import { isShared, mountAt, mountsUnder, readMountInfo } from '../../src/host/mountinfo';
import { createLogger, silentLogger } from '../../src/log';
import { describeAsRoot } from '../support/privileges';

const MiB = 1024 * 1024;
const DEVICE_BYTES = 64 * MiB;
/** xfsprogs refuses filesystems under 300 MB. */
const XFS_DEVICE_BYTES = 320 * MiB;

function deviceBytesFor(fsType: 'ext4' | 'xfs'): number {
  return fsType === 'xfs' ? XFS_DEVICE_BYTES : DEVICE_BYTES;
}

function sh(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Loop devices, mounts and files made by one test; all released in afterEach. */
class Scratch {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-host-'));
  private readonly loops: string[] = [];
  private readonly targets: string[] = [];
  private readonly fds: number[] = [];

  image(name: string, bytes = DEVICE_BYTES, write?: (fd: number) => void): string {
    const file = path.join(this.dir, `${name}.img`);
    fs.writeFileSync(file, '');
    fs.truncateSync(file, bytes);
    if (write) {
      const fd = fs.openSync(file, 'r+');
      try {
        write(fd);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    return file;
  }

  loop(file: string): string {
    const device = sh('losetup', ['--find', '--show', file]).trim();
    this.loops.push(device);
    return device;
  }

  device(name: string, write?: (fd: number) => void, bytes = DEVICE_BYTES): { file: string; device: string } {
    const file = this.image(name, bytes, write);
    return { file, device: this.loop(file) };
  }

  /** A mount point the cleanup will unmount. */
  target(name: string): string {
    const target = path.join(this.dir, 'mnt', name);
    this.targets.push(target);
    return target;
  }

  open(file: string): number {
    const fd = fs.openSync(file, 'r');
    this.fds.push(fd);
    return fd;
  }

  close(fd: number): void {
    fs.closeSync(fd);
    this.fds.splice(this.fds.indexOf(fd), 1);
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
    for (const target of this.targets.reverse()) {
      for (let i = 0; i < 8 && mountAt(await readMountInfo(), target); i += 1) {
        try {
          sh('umount', [target]);
        } catch {
          sh('umount', ['-l', target]);
        }
      }
    }
    for (const device of this.loops.reverse()) {
      try {
        sh('losetup', ['-d', device]);
      } catch (err) {
        problems.push(`${device}: ${(err as Error).message}`);
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (problems.length) throw new Error(`cleanup: ${problems.join('; ')}`);
  }
}

function sha256(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(8 * MiB);
    for (let read; (read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit += 1) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** An MBR with one Linux partition from sector 2048 to the end. */
function writeMbr(fd: number): void {
  const sector = Buffer.alloc(512);
  const entry = 446;
  sector[entry + 4] = 0x83;
  sector.writeUInt32LE(2048, entry + 8);
  sector.writeUInt32LE(fs.fstatSync(fd).size / 512 - 2048, entry + 12);
  sector.writeUInt16LE(0xaa55, 510);
  fs.writeSync(fd, sector, 0, 512, 0);
}

/** A protective MBR and a primary GPT header with one partition entry, CRCs and all. */
function writeGpt(fd: number): void {
  const sectors = fs.fstatSync(fd).size / 512;
  const mbr = Buffer.alloc(512);
  mbr[446 + 4] = 0xee;
  mbr.writeUInt32LE(1, 446 + 8);
  mbr.writeUInt32LE(sectors - 1, 446 + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  const entries = Buffer.alloc(128 * 128);
  Buffer.from('0FC63DAF848347728E793D69D8477DE4', 'hex').copy(entries, 0); // Linux filesystem type (byte order aside, any non-zero GUID will do)
  randomBytes(16).copy(entries, 16);
  entries.writeBigUInt64LE(2048n, 32);
  entries.writeBigUInt64LE(BigInt(sectors - 34), 40);
  const header = Buffer.alloc(512);
  header.write('EFI PART', 0, 'ascii');
  header.writeUInt32LE(0x00010000, 8);
  header.writeUInt32LE(92, 12);
  header.writeBigUInt64LE(1n, 24);
  header.writeBigUInt64LE(BigInt(sectors - 1), 32);
  header.writeBigUInt64LE(34n, 40);
  header.writeBigUInt64LE(BigInt(sectors - 34), 48);
  randomBytes(16).copy(header, 56);
  header.writeBigUInt64LE(2n, 72);
  header.writeUInt32LE(128, 80);
  header.writeUInt32LE(128, 84);
  header.writeUInt32LE(crc32(entries), 88);
  header.writeUInt32LE(crc32(header.subarray(0, 92)), 16);
  fs.writeSync(fd, mbr, 0, 512, 0);
  fs.writeSync(fd, header, 0, 512, 512);
  fs.writeSync(fd, entries, 0, entries.length, 1024);
}

function writeRandomStart(fd: number): void {
  fs.writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, 0);
}

async function caught(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a BerthError');
}

/** The real runner, recording each command so a test can see what ran. */
function recordingRunner(): { run: CommandRunner; commands: string[] } {
  const commands: string[] = [];
  return {
    commands,
    run: (command, args, options) => {
      commands.push([command, ...args].join(' '));
      return runCommand(command, args, options);
    },
  };
}

function ext4Bytes(device: string): number {
  const out = sh('dumpe2fs', ['-h', device]);
  return Number(/^Block count:\s+(\d+)/m.exec(out)![1]) * Number(/^Block size:\s+(\d+)/m.exec(out)![1]);
}

function xfsBytes(target: string): number {
  const match = /^data\s+=\s+bsize=(\d+)\s+blocks=(\d+)/m.exec(sh('xfs_info', [target]))!;
  return Number(match[1]) * Number(match[2]);
}

describeAsRoot('Linux host on loop devices', () => {
  let scratch: Scratch;
  let host: LinuxHost;

  beforeEach(() => {
    scratch = new Scratch();
    host = new LinuxHost({ deviceDir: '/dev', logger: silentLogger(), commandTimeoutMs: 30_000 });
  });

  afterEach(async () => {
    await scratch.cleanup();
  });

  describe('probe and format', () => {
    it('sees nothing on an empty device, formats it, then sees the filesystem', async () => {
      const ext4 = scratch.device('ext4').device;
      const xfs = scratch.device('xfs', undefined, XFS_DEVICE_BYTES).device;
      expect(await host.probe(ext4)).toEqual({});
      await host.format(ext4, 'ext4', ['-b', '2048']);
      await host.format(xfs, 'xfs', []);
      expect(await host.probe(ext4)).toEqual({ fsType: 'ext4' });
      expect(await host.probe(xfs)).toEqual({ fsType: 'xfs' });
      expect(sh('dumpe2fs', ['-h', ext4])).toMatch(/^Block size:\s+2048$/m);
      expect(sh('dumpe2fs', ['-h', ext4])).toMatch(/^Reserved block count:\s+0$/m);
    });

    it('reports partition tables', async () => {
      expect(await host.probe(scratch.device('mbr', writeMbr).device)).toEqual({ partitionTable: 'dos' });
      expect(await host.probe(scratch.device('gpt', writeGpt).device)).toEqual({ partitionTable: 'gpt' });
    });

    it('refuses to format a device holding a filesystem or a partition table, and leaves its bytes alone', async () => {
      const devices = {
        ext4: scratch.device('ext4'),
        xfs: scratch.device('xfs', undefined, XFS_DEVICE_BYTES),
        mbr: scratch.device('mbr', writeMbr),
        gpt: scratch.device('gpt', writeGpt),
      };
      sh('mkfs.ext4', ['-q', '-F', devices.ext4.device]);
      sh('mkfs.xfs', ['-q', '-f', devices.xfs.device]);
      for (const [name, { file, device }] of Object.entries(devices)) {
        const before = sha256(file);
        for (const fsType of ['ext4', 'xfs'] as const) {
          const err = await caught(host.format(device, fsType, []));
          expect(err.code).toBe('unsafe-device');
          expect(err.message).toContain(device);
        }
        expect({ name, hash: sha256(file) }).toEqual({ name, hash: before });
      }
    });

    it('refuses data blkid cannot name: random bytes, or an ext4 whose superblock magic is gone', async () => {
      const random = scratch.device('random', writeRandomStart);
      const damaged = scratch.device('damaged');
      sh('mkfs.ext4', ['-q', '-F', damaged.device]);
      const fd = fs.openSync(damaged.device, 'r+');
      try {
        fs.writeSync(fd, Buffer.alloc(2), 0, 2, 1024 + 0x38); // s_magic
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      for (const { file, device } of [random, damaged]) {
        expect(await host.probe(device)).toEqual({}); // blkid alone would call these empty
        const before = sha256(file);
        const err = await caught(host.format(device, 'ext4', []));
        expect(err.code).toBe('unsafe-device');
        expect(err.message).toMatch(/first MiB holds data/);
        expect(sha256(file)).toBe(before);
      }
    });

    it('rejects a mkfs option that forces or names a device', async () => {
      const { device } = scratch.device('empty');
      await expect(host.format(device, 'ext4', ['-F'])).rejects.toMatchObject({ code: 'invalid-option' });
      await expect(host.format(device, 'xfs', ['/dev/loop0'])).rejects.toMatchObject({ code: 'invalid-option' });
      expect(await host.probe(device)).toEqual({});
    });
  });

  describe('check', () => {
    it('passes clean ext4 and xfs filesystems', async () => {
      const ext4 = scratch.device('ext4').device;
      const xfs = scratch.device('xfs', undefined, XFS_DEVICE_BYTES).device;
      await host.format(ext4, 'ext4', []);
      await host.format(xfs, 'xfs', []);
      await host.check(ext4, 'ext4');
      await host.check(xfs, 'xfs');
    });

    it('refuses an ext4 with errors fsck -p cannot fix, telling the user to repair it by hand', async () => {
      const { device } = scratch.device('broken');
      await host.format(device, 'ext4', []);
      sh('debugfs', ['-w', '-R', 'clri <2>', device]); // wipe the root directory's inode
      sh('debugfs', ['-w', '-R', 'ssv state 2', device]); // and flag errors, as the kernel would
      const err = await caught(host.check(device, 'ext4'));
      expect(err.code).toBe('filesystem');
      expect(err.message).toContain(device);
      expect(err.message).toMatch(/could not repair automatically/);
      expect(err.message).toMatch(/Root inode is not a directory/);
    });

    it('refuses an ext4 whose superblock cannot be read', async () => {
      const { device } = scratch.device('nosuper');
      await host.format(device, 'ext4', []);
      const fd = fs.openSync(device, 'r+');
      try {
        fs.writeSync(fd, Buffer.alloc(2), 0, 2, 1024 + 0x38);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const err = await caught(host.check(device, 'ext4'));
      expect(err.code).toBe('filesystem');
      expect(err.message).toMatch(/exit 8/);
    });
  });

  describe('mount and unmount', () => {
    for (const fsType of ['ext4', 'xfs'] as const) {
      it(`mounts ${fsType} shared, keeps data across unmount and mount, and unmounts`, async () => {
        const { device } = scratch.device(fsType, undefined, deviceBytesFor(fsType));
        const target = scratch.target(fsType);
        await host.format(device, fsType, []);
        await host.mount(device, target, fsType);
        const entry = mountAt(await readMountInfo(), target)!;
        expect(entry).toMatchObject({ source: device, fsType });
        expect(isShared(entry)).toBe(true);
        if (fsType === 'xfs') expect(entry.superOptions).toContain('nouuid');
        expect(await host.mountedSource(target)).toBe(device);
        fs.writeFileSync(path.join(target, 'kept.txt'), 'still here');

        await host.unmount(target);
        expect(await host.mountedSource(target)).toBeUndefined();
        expect(fs.existsSync(path.join(target, 'kept.txt'))).toBe(false);

        await host.mount(device, target, fsType);
        expect(fs.readFileSync(path.join(target, 'kept.txt'), 'utf8')).toBe('still here');
        await host.unmount(target);
        expect(await host.mountedSource(target)).toBeUndefined();
      });
    }

    it('creates missing mount points and lists mounts under a root', async () => {
      const { device } = scratch.device('listed');
      const target = scratch.target('deep/er/listed');
      await host.format(device, 'ext4', []);
      await host.mount(device, target, 'ext4');
      const listed = mountsUnder(await readMountInfo(), path.join(scratch.dir, 'mnt'));
      expect(listed.map((entry) => [entry.mountPoint, entry.source])).toEqual([[target, device]]);
    });

    it('treats mounting the same device again as done, and refuses to stack another device on a mount point', async () => {
      const first = scratch.device('first').device;
      const second = scratch.device('second').device;
      const target = scratch.target('shared-point');
      await host.format(first, 'ext4', []);
      await host.format(second, 'ext4', []);
      await host.mount(first, target, 'ext4');
      await host.mount(first, target, 'ext4');
      const err = await caught(host.mount(second, target, 'ext4'));
      expect(err.code).toBe('host');
      expect(err.message).toContain(first);
      const mounts = (await readMountInfo()).filter((entry) => entry.mountPoint === target);
      expect(mounts.map((entry) => entry.source)).toEqual([first]);
    });

    it('reports a mount failure as a filesystem error', async () => {
      const { device } = scratch.device('blank');
      const err = await caught(host.mount(device, scratch.target('blank'), 'ext4'));
      expect(err.code).toBe('filesystem');
      expect(await host.mountedSource(scratch.target('blank'))).toBeUndefined();
    });

    it('counts unmounting what is not mounted as success', async () => {
      const target = scratch.target('never');
      await host.unmount(target);
      fs.mkdirSync(target, { recursive: true });
      await host.unmount(target);
    });

    it('retries a busy unmount briefly, then says the mount is in use', async () => {
      const { device } = scratch.device('busy');
      const target = scratch.target('busy');
      await host.format(device, 'ext4', []);
      await host.mount(device, target, 'ext4');
      fs.writeFileSync(path.join(target, 'open.txt'), 'x');
      const fd = scratch.open(path.join(target, 'open.txt'));
      const started = Date.now();
      const err = await caught(host.unmount(target));
      expect(err.code).toBe('host');
      expect(err.message).toMatch(/in use/);
      expect(Date.now() - started).toBeGreaterThan(1000);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await host.mountedSource(target)).toBe(device);
      scratch.close(fd);
      await host.unmount(target);
      expect(await host.mountedSource(target)).toBeUndefined();
    });
  });

  describe('grow', () => {
    for (const fsType of ['ext4', 'xfs'] as const) {
      it(`grows ${fsType} to its enlarged device (ext4 unmounted, xfs mounted), keeps the data, and does nothing when it already fills it`, async () => {
        const bytes = deviceBytesFor(fsType);
        const { file, device } = scratch.device(`grow-${fsType}`, undefined, bytes);
        const target = scratch.target(`grow-${fsType}`);
        const recorder = recordingRunner();
        const logs: string[] = [];
        const logger = createLogger({ level: 'info', stream: new Writable({ write: (chunk, _encoding, done) => done(void logs.push(String(chunk))) }) });
        const recordingHost = new LinuxHost({ deviceDir: '/dev', logger, run: recorder.run });
        await recordingHost.format(device, fsType, []);
        await recordingHost.mount(device, target, fsType);
        fs.writeFileSync(path.join(target, 'before-grow.txt'), 'kept');
        const size = () => (fsType === 'ext4' ? ext4Bytes(device) : xfsBytes(target));
        const grower = fsType === 'ext4' ? 'resize2fs' : 'xfs_growfs';
        const growerRuns = () => recorder.commands.filter((command) => command.startsWith(grower)).length;
        const grow = async () => {
          if (fsType === 'ext4') {
            await recordingHost.unmount(target);
            await recordingHost.growBeforeMount(device, fsType);
            await recordingHost.mount(device, target, fsType);
          } else {
            await recordingHost.growAfterMount(device, target, fsType);
          }
        };

        await grow();
        expect(growerRuns()).toBe(0);
        expect(size()).toBeLessThanOrEqual(bytes);

        fs.truncateSync(file, 2 * bytes);
        sh('losetup', ['-c', device]);
        await grow();
        expect(growerRuns()).toBe(1);
        expect(size()).toBeGreaterThan(2 * bytes - 16 * MiB);
        expect(size()).toBeLessThanOrEqual(2 * bytes);
        expect(logs.join('')).toMatch(/grew filesystem/);
        expect(fs.readFileSync(path.join(target, 'before-grow.txt'), 'utf8')).toBe('kept');
        fs.writeFileSync(path.join(target, 'after-grow.txt'), 'ok');

        await grow();
        expect(growerRuns()).toBe(1);
      });
    }
  });

  describe('devices in use', () => {
    it('sees a device as in use while any filesystem on it is mounted, so it is never checked or resized under a user', async () => {
      const { device } = scratch.device('in-use', undefined, deviceBytesFor('ext4'));
      const target = scratch.target('in-use');
      await host.format(device, 'ext4', []);
      expect(await host.deviceInUse(device)).toBe(false);
      await host.mount(device, target, 'ext4');
      expect(await host.deviceInUse(device)).toBe(true);
      await host.unmount(target);
      expect(await host.deviceInUse(device)).toBe(false);
    });
  });

  describe('data directory', () => {
    it('creates a missing directory with the owner and the exact mode, despite the umask', async () => {
      const dir = path.join(scratch.dir, 'vol', 'data');
      const umask = process.umask(0o077);
      try {
        await prepareDataDir(dir, { uid: 1000, gid: 1001, mode: 0o755 });
      } finally {
        process.umask(umask);
      }
      const stats = fs.statSync(dir);
      expect(stats.isDirectory()).toBe(true);
      expect([stats.uid, stats.gid, stats.mode & 0o7777]).toEqual([1000, 1001, 0o755]);
    });

    it('keeps the owner and mode of an existing directory (a REX-Ray volume)', async () => {
      const dir = path.join(scratch.dir, 'data');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chownSync(dir, 999, 999);
      await host.prepareDataDir(dir, { uid: 1000, gid: 1000, mode: 0o777 });
      const stats = fs.statSync(dir);
      expect([stats.uid, stats.gid, stats.mode & 0o7777]).toEqual([999, 999, 0o700]);
    });

    it('refuses a data path that is a symlink or a file', async () => {
      const link = path.join(scratch.dir, 'link');
      fs.symlinkSync('/', link);
      await expect(host.prepareDataDir(link, { mode: 0o755 })).rejects.toMatchObject({ code: 'host' });
      const file = path.join(scratch.dir, 'file');
      fs.writeFileSync(file, '');
      await expect(host.prepareDataDir(file, { mode: 0o755 })).rejects.toMatchObject({ code: 'host' });
    });
  });

  describe('device discovery with real block devices', () => {
    it('follows an absolute link in the device dir to the loop device', async () => {
      const { device } = scratch.device('found');
      const deviceDir = path.join(scratch.dir, 'dev');
      fs.mkdirSync(deviceDir);
      fs.symlinkSync(device, path.join(deviceDir, 'xvdf'));
      const discovering = new LinuxHost({ deviceDir, logger: silentLogger() });
      expect(await discovering.findDevice('vol-0123456789abcdef0', '/dev/xvdf', AbortSignal.timeout(2000))).toBe(device);
    });

    it('does not accept a regular file where a device should be', async () => {
      const deviceDir = path.join(scratch.dir, 'dev');
      fs.mkdirSync(deviceDir);
      fs.writeFileSync(path.join(deviceDir, 'xvdf'), 'someone wrote to /dev/xvdf while it was missing');
      const discovering = new LinuxHost({ deviceDir, logger: silentLogger() });
      const err = await caught(discovering.findDevice('vol-0123456789abcdef0', '/dev/xvdf', AbortSignal.timeout(300)));
      expect(err.code).toBe('device-missing');
      expect(err.message).toContain('not a block device');
    });
  });
});
