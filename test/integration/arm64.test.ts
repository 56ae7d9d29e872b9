/**
 * The arm64 (Graviton) plugin rootfs, `make plugin-rootfs PLUGIN_ARCH=arm64`, built and run on this amd64 machine
 * under Debian's user-mode emulator (qemu-aarch64-static): its Node.js and berth, its filesystem tools on real
 * images, and its daemon doing a volume's whole life in legacy mode against the local EC2 endpoint.
 *
 * No binfmt handler is registered (that would change the whole machine), so a program the emulated daemon starts
 * is not emulated by itself: the tools berth runs go through wrappers first in its PATH, each of which runs the
 * rootfs's own arm64 program under the emulator and notes that it did.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand, runCommandOk } from '../support/commands';
import { startDaemon, type RunningDaemon } from '../support/daemon';
import { missingDocker, missingRegistry, startDockerd, startRegistry, type PrivateDockerd, type Registry } from '../support/dockerd';
import { startLocalEc2, type LocalEc2 } from '../support/local-ec2';
import { mountsUnder, unmountAllUnder } from '../support/mounts';
import { describeWhen, missingRootAndLoop } from '../support/privileges';

const REPO = path.resolve(__dirname, '../..');
const EMULATOR = '/usr/bin/qemu-aarch64-static';
/** What berth runs (src/host) and the wrappers stand in for. */
const WRAPPED_TOOLS = ['mkfs.ext4', 'mkfs.xfs', 'mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'xfs_growfs', 'xfs_repair', 'blkid', 'mount', 'umount', 'blockdev', 'findmnt'];
const MiB = 1024 * 1024;
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

function missingEmulator(): string | undefined {
  return fs.existsSync(EMULATOR) ? undefined : `${EMULATOR} is not installed (Debian package qemu-user-static)`;
}

interface BuiltPlugin {
  dir: string;
  rootfsBytes: number;
  seconds: number;
}

async function buildArm64Plugin(): Promise<BuiltPlugin> {
  const args = [path.join(REPO, 'plugin/assemble.mjs'), '--arch', 'arm64', '--out', path.join(REPO, 'build/plugin-arm64'), '--if-stale', '--json'];
  const out = await runCommand(process.execPath, args, { timeoutMs: 15 * 60_000 });
  if (out.code !== 0) throw new Error(`arm64 plugin build failed (exit ${out.code}):\n${out.stderr}${out.stdout}`);
  return JSON.parse(out.stdout.trim().split('\n').pop() ?? '') as BuiltPlugin;
}

const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describeWhen(missingRootAndLoop() ?? missingEmulator() ?? missingDocker() ?? missingRegistry(), 'the arm64 plugin rootfs under emulation', () => {
  let rootfs = '';
  let scratch = '';
  /**
   * Runs a program of the arm64 rootfs (a path inside it) under the emulator. Files are named by their paths on
   * this machine: the emulator's -L prefix finds the loader and the libraries, but Node.js's module loader does
   * not see through it.
   */
  const arm64 = (program: string, args: string[], timeoutMs = 120_000) => runCommandOk(EMULATOR, ['-L', rootfs, path.join(rootfs, program), ...args], { timeoutMs });

  beforeAll(async () => {
    const built = await buildArm64Plugin();
    rootfs = path.join(built.dir, 'rootfs');
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-arm64-'));
    process.stderr.write(`arm64: rootfs ${(built.rootfsBytes / MiB).toFixed(1)} MiB, built or checked in ${built.seconds.toFixed(1)} s\n`);
  }, 20 * 60_000);

  afterAll(async () => {
    if (scratch) {
      await unmountAllUnder(scratch);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('holds arm64 programs only: Node.js reports arm64, and berth its version', async () => {
    expect(sh('file', ['-L', path.join(rootfs, 'usr/local/bin/node')])).toMatch(/ARM aarch64/);
    expect(sh('file', ['-L', path.join(rootfs, 'usr/sbin/mke2fs')])).toMatch(/ARM aarch64/);
    expect((await arm64('usr/local/bin/node', ['-p', 'process.arch'])).trim()).toBe('arm64');
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    const cli = path.join(rootfs, 'berth/cli.js');
    expect((await arm64('usr/local/bin/node', [cli, 'version'])).trim()).toMatch(new RegExp(`^berth ${version.replace(/\./g, '\\.')} \\(Node\\.js 24\\.`));
    expect(await arm64('usr/local/bin/node', [cli, 'serve', '--help'])).toContain('EBS_REGION');
    // The V8 code cache the build warmed belongs to the arm64 runtime.
    expect(fs.readdirSync(path.join(rootfs, 'var/cache/node')).some((entry) => entry.includes('arm64'))).toBe(true);
  }, 120_000);

  it('its ext4 tools make, check and grow a filesystem that the host\'s tools read', async () => {
    const image = path.join(scratch, 'ext4.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 * MiB);
    await arm64('usr/sbin/mkfs.ext4', ['-q', '-F', '-L', 'arm64made', image]);
    expect(sh('blkid', ['-p', '-o', 'export', image])).toMatch(/^TYPE=ext4$/m);
    expect(sh('blkid', ['-p', '-o', 'export', image])).toMatch(/^LABEL=arm64made$/m);
    await arm64('usr/sbin/e2fsck', ['-f', '-n', image]);
    fs.truncateSync(image, 128 * MiB);
    await arm64('usr/sbin/resize2fs', [image]);
    const blocks = Number(/^Block count:\s+(\d+)/m.exec(sh('dumpe2fs', ['-h', image]))?.[1]);
    const blockSize = Number(/^Block size:\s+(\d+)/m.exec(sh('dumpe2fs', ['-h', image]))?.[1]);
    expect(blocks * blockSize).toBe(128 * MiB);
    sh('e2fsck', ['-f', '-n', image]);
    expect((await arm64('usr/sbin/blkid', ['-p', '-o', 'value', '-s', 'TYPE', image])).trim()).toBe('ext4');
  }, 180_000);

  // Its xfs_growfs cannot run here: the emulator (qemu-user 7.2) does not translate the XFS_IOC_FSGEOMETRY ioctl
  // ("cannot determine geometry of filesystem ...: Function not implemented"). The host's grows the filesystem the
  // arm64 mkfs.xfs made, and its xfs_repair checks it.
  it('its mkfs.xfs makes a filesystem the host mounts and grows, and its xfs_repair checks it', async () => {
    const image = path.join(scratch, 'xfs.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 320 * MiB);
    await arm64('usr/sbin/mkfs.xfs', ['-q', '-f', image]);
    expect(sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', image]).trim()).toBe('xfs');
    const device = sh('losetup', ['--find', '--show', image]).trim();
    const mountpoint = path.join(scratch, 'xfs');
    fs.mkdirSync(mountpoint);
    try {
      sh('mount', [device, mountpoint]);
      fs.truncateSync(image, 640 * MiB);
      sh('losetup', ['--set-capacity', device]);
      sh('xfs_growfs', [mountpoint]);
      const bytes = Number(sh('df', ['--output=size', '-B1', mountpoint]).trim().split('\n').pop());
      expect(bytes).toBeGreaterThan(500 * MiB);
    } finally {
      await runCommand('umount', [mountpoint]);
      await runCommand('losetup', ['-d', device]);
    }
    await arm64('usr/sbin/xfs_repair', ['-n', image]);
  }, 180_000);

  describe('its daemon, in legacy mode against the local EC2 endpoint', () => {
    let endpoint: LocalEc2 | undefined;
    let daemon: (RunningDaemon & { root: string }) | undefined;
    let wrappers = '';
    let toolLog = '';
    let startMs = 0;

    beforeAll(async () => {
      wrappers = path.join(scratch, 'wrappers');
      toolLog = path.join(scratch, 'tools.log');
      fs.mkdirSync(wrappers);
      for (const tool of WRAPPED_TOOLS) {
        const program = ['usr/sbin', 'usr/bin'].map((dir) => path.join(dir, tool)).find((candidate) => fs.existsSync(path.join(rootfs, candidate)));
        if (!program) throw new Error(`the arm64 rootfs has no ${tool}`);
        // The emulator runs aarch64 programs only: a wrapper that ran is an arm64 program that ran.
        const script = `#!/bin/sh\necho "${tool} ${path.join(rootfs, program)}" >> ${toolLog}\nexec ${EMULATOR} -L ${rootfs} ${path.join(rootfs, program)} "$@"\n`;
        fs.writeFileSync(path.join(wrappers, tool), script, { mode: 0o755 });
      }
      endpoint = await startLocalEc2(['id=i-0a64a000000000001,az=us-east-1a']);
      const started = Date.now();
      daemon = await startDaemon({
        ec2: endpoint.ec2,
        instance: endpoint.instances[0],
        runtime: [EMULATOR, '-L', rootfs, path.join(rootfs, 'usr/local/bin/node')],
        cli: path.join(rootfs, 'berth/cli.js'),
        startTimeoutMs: 120_000,
        env: { PATH: `${wrappers}:${process.env.PATH}`, EBS_MOUNTTIMEOUT: '2m' },
      });
      startMs = Date.now() - started;
      process.stderr.write(`arm64: the emulated daemon was ready ${startMs} ms after it was started\n`);
    }, 5 * 60_000);

    afterAll(async () => {
      await daemon?.stop().catch(() => undefined);
      if (daemon) {
        await unmountAllUnder(daemon.root);
        fs.rmSync(daemon.root, { recursive: true, force: true });
      }
      await endpoint?.destroy();
    }, 120_000);

    it('creates, mounts (formatting it), writes, unmounts, mounts again, reads and removes a volume', async () => {
      const d = daemon!;
      const ok = async (method: string, body: object) => {
        const reply = await d.call(`VolumeDriver.${method}`, body);
        if (reply.body.Err) throw new Error(`${method}: ${reply.body.Err}\n${d.logs.join('').slice(-4000)}`);
        return reply.body;
      };
      const name = `arm64-${crypto.randomBytes(3).toString('hex')}`;
      await ok('Create', { Name: name, Opts: { size: '1' } });
      const { Mountpoint: mountpoint } = (await ok('Mount', { Name: name, ID: 'c1' })) as { Mountpoint: string };
      expect(mountsUnder(d.mountRoot)).toContain(path.dirname(mountpoint));
      fs.writeFileSync(path.join(mountpoint, 'written-by'), 'an arm64 berth\n');
      await ok('Unmount', { Name: name, ID: 'c1' });
      expect(mountsUnder(d.mountRoot)).toEqual([]);

      const again = (await ok('Mount', { Name: name, ID: 'c2' })) as { Mountpoint: string };
      expect(fs.readFileSync(path.join(again.Mountpoint, 'written-by'), 'utf8')).toBe('an arm64 berth\n');
      await ok('Unmount', { Name: name, ID: 'c2' });
      await ok('Remove', { Name: name });
      const state = (await endpoint!.admin('GET', 'state')) as { volumes: Array<{ tags: Record<string, string> }> };
      expect(state.volumes.filter((volume) => volume.tags['berth:name'] === name)).toEqual([]);

      // Each tool berth ran was the rootfs's own program, an aarch64 one, run by the emulator.
      const ran = new Map(fs.readFileSync(toolLog, 'utf8').trim().split('\n').map((line) => line.split(' ') as [string, string]));
      for (const tool of ['mkfs.ext4', 'blkid', 'mount', 'umount']) expect([...ran.keys()]).toContain(tool);
      for (const program of new Set(ran.values())) expect(`${program}: ${sh('file', ['-L', program])}`).toMatch(/ARM aarch64/);
    }, 10 * 60_000);
  });

  describe('make push PLUGIN_ARCHES="amd64 arm64"', () => {
    let registry: Registry | undefined;
    let engine: PrivateDockerd | undefined;
    const installed: string[] = [];

    beforeAll(async () => {
      registry = await startRegistry();
      engine = await startDockerd();
    }, 5 * 60_000);

    afterAll(async () => {
      for (const alias of installed) await engine?.docker(['plugin', 'rm', '--force', alias]);
      await engine?.stop();
      await registry?.stop();
    }, 5 * 60_000);

    /** Installs a pushed tag disabled; returns what its rootfs holds: build-info.json's arch and node's ELF type. */
    const installedFrom = async (tag: string) => {
      const alias = `arch-check-${installed.length}`;
      await engine!.dockerOk(['plugin', 'install', '--grant-all-permissions', '--disable', '--alias', alias, `${registry!.address}/berth/ebs:${tag}`], { timeoutMs: 5 * 60_000 });
      installed.push(alias);
      const id = (await engine!.dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', alias])).trim();
      const rootfs = path.join(engine!.dataRoot, 'plugins', id, 'rootfs');
      const info = JSON.parse(fs.readFileSync(path.join(rootfs, 'berth/build-info.json'), 'utf8')) as { arch: string; version: string };
      return { alias, id, arch: info.arch, version: info.version, node: sh('file', ['-L', path.join(rootfs, 'usr/local/bin/node')]) };
    };

    it('publishes per-architecture tags (amd64 also the plain ones); each installs its own architecture\'s rootfs', async () => {
      const out = await runCommand('make', ['--no-print-directory', '-C', REPO, '-o', 'deps', 'push', `REGISTRY=${registry!.address}`, 'PLUGIN_ARCHES=amd64 arm64'], {
        env: engine!.env,
        timeoutMs: 20 * 60_000,
      });
      if (out.code !== 0) throw new Error(`make push: exit ${out.code}\n${out.stdout}${out.stderr}`);
      for (const repository of ['berth/ebs', 'berth/ebs-csi']) {
        const { tags } = (await (await fetch(`http://${registry!.address}/v2/${repository}/tags/list`)).json()) as { tags: string[] };
        expect([repository, tags.sort()]).toEqual([repository, [VERSION, 'latest', `${VERSION}-amd64`, 'latest-amd64', `${VERSION}-arm64`, 'latest-arm64'].sort()]);
      }

      const arm = await installedFrom(`${VERSION}-arm64`);
      expect(arm).toEqual(expect.objectContaining({ arch: 'arm64', version: VERSION }));
      expect(arm.node).toMatch(/ARM aarch64/);
      for (const tag of [VERSION, `${VERSION}-amd64`]) {
        const amd = await installedFrom(tag);
        expect(amd.arch).toBe('x64');
        expect(amd.node).toMatch(/x86-64/);
      }
    }, 25 * 60_000);

    it('the arm64 plugin on this amd64 engine fails to enable, and the engine logs "exec format error"', async () => {
      const arm = installed[0];
      const id = (await engine!.dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', arm])).trim();
      const enable = await engine!.docker(['plugin', 'enable', '--timeout', '30', arm], { timeoutMs: 90_000 });
      expect(enable.code).not.toBe(0);
      expect(engine!.log().split('\n').filter((line) => line.includes(id))).toEqual(
        expect.arrayContaining([expect.stringContaining('exec /usr/local/bin/node: exec format error')]),
      );
    }, 120_000);
  });
});
