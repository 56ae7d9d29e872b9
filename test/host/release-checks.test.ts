/**
 * What the Linux host reports around a release, on real mounts and a real loop device: a removed volume's empty
 * mount directory goes (nothing with content, nothing mounted), and a device a process still holds exclusively
 * (as an mkfs or e2fsck orphaned by a killed daemon does) reads as in use until that process ends.
 * Every loop device, mount, process and temp file is removed after each test, whether it passed or not.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinuxHost } from '../../src/host/linux';
import { silentLogger } from '../../src/log';
import { isMounted, unmountAllUnder } from '../support/mounts';
import { describeAsRoot } from '../support/privileges';

describeAsRoot('Linux host: mount directories and device holders', () => {
  let dir: string;
  let loops: string[];
  let children: ChildProcess[];
  let host: LinuxHost;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-release-'));
    loops = [];
    children = [];
    host = new LinuxHost({ deviceDir: dir, logger: silentLogger() });
  });
  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    await unmountAllUnder(dir);
    for (const loop of loops) execFileSync('losetup', ['-d', loop]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('removes an empty mount directory, and leaves one with content or a mount on it', async () => {
    const empty = path.join(dir, 'empty');
    const full = path.join(dir, 'full');
    const mounted = path.join(dir, 'mounted');
    fs.mkdirSync(empty);
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep'), 'data');
    fs.mkdirSync(mounted);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mounted]);

    await host.removeMountDir(empty);
    await host.removeMountDir(full);
    await host.removeMountDir(mounted);
    await host.removeMountDir(path.join(dir, 'never-made'));

    expect(fs.existsSync(empty)).toBe(false);
    expect(fs.readFileSync(path.join(full, 'keep'), 'utf8')).toBe('data');
    expect(isMounted(mounted)).toBe(true);
  });

  it('reads a device as in use while another process holds it open exclusively, and free once it ends', async () => {
    const image = path.join(dir, 'disk.img');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 16 * 1024 * 1024);
    const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    loops.push(device);
    expect(await host.deviceInUse(device)).toBe(false);

    const holder = spawn(process.execPath, ['-e', `const fs = require('fs'); fs.openSync(${JSON.stringify(device)}, fs.constants.O_RDONLY | fs.constants.O_EXCL); console.log('held'); setInterval(() => {}, 1000);`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(holder);
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    expect(await host.deviceInUse(device)).toBe(true);

    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    expect(await host.deviceInUse(device)).toBe(false);
  });
});
