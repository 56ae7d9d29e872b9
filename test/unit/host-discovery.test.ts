/**
 * Device discovery against fake /dev and /sys trees (regular files stand in for device nodes).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findDevice, lookForDevice, waitDeviceGone, type DiscoveryOptions } from '../../src/host/discovery';
import { BerthError } from '../../src/common/errors';

const VOLUME = 'vol-0abc123def4567890';
const SERIAL = 'vol0abc123def4567890';
const OTHER_SERIAL = 'vol0fff000111222333';

let root: string;
let devDir: string;
let sysDir: string;
let options: DiscoveryOptions;

function node(name: string): string {
  const file = path.join(devDir, name);
  fs.writeFileSync(file, '');
  return file;
}

/** An NVMe namespace: a node under /dev and its serial under /sys, space-padded as the kernel shows it. */
function nvme(name: string, serial: string): string {
  const dir = path.join(sysDir, 'block', name, 'device');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'serial'), `${serial.padEnd(20)}\n`);
  return node(name);
}

function link(relativePath: string, target: string): void {
  const file = path.join(devDir, relativePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.symlinkSync(target, file);
}

function byId(target: string): void {
  link(`disk/by-id/nvme-Amazon_Elastic_Block_Store_${SERIAL}`, target);
}

function watchHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'FSEventWrap').length;
}

/** Watch handles once those closed recently are gone (a closed handle leaves the list a loop turn later). */
async function settledWatchHandles(): Promise<number> {
  await sleep(20);
  return watchHandles();
}

async function rejection(promise: Promise<unknown>): Promise<BerthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a rejection');
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-discovery-'));
  devDir = path.join(root, 'dev');
  sysDir = path.join(root, 'sys');
  fs.mkdirSync(devDir);
  fs.mkdirSync(path.join(sysDir, 'block'), { recursive: true });
  options = { deviceDir: devDir, sysfsDir: sysDir, requireBlockDevice: false };
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('device discovery: where to look', () => {
  it('takes the requested device name first (a Xen device)', async () => {
    const xvdf = node('xvdf');
    byId(nvme('nvme1n1', SERIAL));
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(xvdf);
  });

  it('accepts the name without /dev/, and tries xvdX for a requested sdX', async () => {
    const xvdg = node('xvdg');
    expect(await findDevice(VOLUME, 'xvdg', AbortSignal.timeout(2000), options)).toBe(xvdg);
    expect(await findDevice(VOLUME, '/dev/sdg', AbortSignal.timeout(2000), options)).toBe(xvdg);
    const sdg = node('sdg');
    expect(await findDevice(VOLUME, '/dev/sdg', AbortSignal.timeout(2000), options)).toBe(sdg);
  });

  it('resolves a requested name that is an absolute link to an NVMe namespace with this serial', async () => {
    const namespace = nvme('nvme1n1', SERIAL);
    link('xvdf', namespace);
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(namespace);
  });

  it('falls back to the Nitro by-id link (relative, as udev makes it)', async () => {
    const namespace = nvme('nvme2n1', SERIAL);
    byId('../../nvme2n1');
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(namespace);
  });

  it('falls back to the NVMe namespace whose serial is the volume id', async () => {
    nvme('nvme1n1', OTHER_SERIAL);
    const namespace = nvme('nvme3n1', SERIAL);
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(namespace);
  });

  it('refuses a device whose NVMe serial is another volume, naming both', async () => {
    link('xvdf', nvme('nvme1n1', OTHER_SERIAL));
    const started = Date.now();
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(300), options));
    expect(err.code).toBe('unsafe-device');
    expect(err.message).toContain(OTHER_SERIAL);
    expect(err.message).toContain(SERIAL);
    expect(err.message).toContain(VOLUME);
    expect(err.message).toContain(path.join(devDir, 'xvdf'));
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('refuses a by-id link that points at another volume', async () => {
    byId(nvme('nvme1n1', OTHER_SERIAL));
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(200), options));
    expect(err.code).toBe('unsafe-device');
    expect(err.message).toContain(OTHER_SERIAL);
  });

  it('refuses an NVMe namespace whose serial cannot be read', async () => {
    link('xvdf', node('nvme4n1'));
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(200), options));
    expect(err.code).toBe('unsafe-device');
    expect(err.message).toContain('cannot be read');
  });

  it('skips a stale requested link when the verified by-id device is there', async () => {
    link('xvdf', nvme('nvme1n1', OTHER_SERIAL));
    const namespace = nvme('nvme2n1', SERIAL);
    byId(namespace);
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(namespace);
  });

  it('uses the device once udev replaces a stale link during the wait', async () => {
    link('xvdf', nvme('nvme1n1', OTHER_SERIAL));
    const replaced = sleep(100).then(() => {
      const namespace = nvme('nvme2n1', SERIAL);
      fs.rmSync(path.join(devDir, 'xvdf'));
      link('xvdf', namespace);
      return namespace;
    });
    const found = await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(3000), options);
    expect(found).toBe(await replaced);
  });

  it('ignores a dangling link until its target appears', async () => {
    link('xvdf', path.join(devDir, 'nvme5n1'));
    expect((await lookForDevice(VOLUME, '/dev/xvdf', options)).device).toBeUndefined();
    const namespace = nvme('nvme5n1', SERIAL);
    expect((await lookForDevice(VOLUME, '/dev/xvdf', options)).device).toBe(namespace);
  });

  it('insists on a block device unless told otherwise', async () => {
    node('xvdf');
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(200), { ...options, requireBlockDevice: true }));
    expect(err.code).toBe('device-missing');
    expect(err.message).toContain('not a block device');
  });

  it('rejects device names that could escape the device dir', async () => {
    const err = await rejection(findDevice(VOLUME, '/dev/../etc/passwd', AbortSignal.timeout(200), options));
    expect(err.code).toBe('internal');
  });
});

describe('device discovery: waiting', () => {
  it('finds a device that appears 150 ms later promptly, through the watch rather than the poll', async () => {
    const appeared = sleep(150).then(() => {
      const namespace = nvme('nvme1n1', SERIAL);
      byId(namespace); // disk/by-id does not exist before: it is created here
      return namespace;
    });
    const started = Date.now();
    const found = await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(10_000), { ...options, pollIntervalMs: 60_000 });
    const elapsed = Date.now() - started;
    expect(found).toBe(await appeared);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
  });

  it('finds a requested name created later with the default poll as well', async () => {
    const appeared = sleep(150).then(() => node('xvdh'));
    const started = Date.now();
    const found = await findDevice(VOLUME, '/dev/xvdh', AbortSignal.timeout(10_000), options);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(found).toBe(await appeared);
  });

  it("gives up with 'device-missing' at the bound, naming the volume, the device and the dir", async () => {
    const started = Date.now();
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(300), options));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('device-missing');
    expect(err.message).toBe(`device for ${VOLUME} (requested /dev/xvdf) did not appear within 0.3s under ${devDir}`);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(800);
  });

  it('stops at once when aborted and leaves no watcher behind', async () => {
    fs.mkdirSync(path.join(devDir, 'disk', 'by-id'), { recursive: true });
    const before = await settledWatchHandles();
    const controller = new AbortController();
    const waiting = findDevice(VOLUME, '/dev/xvdf', controller.signal, { ...options, pollIntervalMs: 60_000 });
    let aborted = 0;
    try {
      await sleep(50);
      expect(watchHandles()).toBe(before + 3); // dev, dev/disk, dev/disk/by-id
    } finally {
      aborted = Date.now();
      controller.abort();
    }
    const err = await rejection(waiting);
    expect(Date.now() - aborted).toBeLessThan(100);
    expect(err.code).toBe('device-missing');
    expect(await settledWatchHandles()).toBe(before);
  });

  it('closes its watchers after success too', async () => {
    const before = await settledWatchHandles();
    const appeared = sleep(50).then(() => node('xvdf'));
    expect(await findDevice(VOLUME, '/dev/xvdf', AbortSignal.timeout(2000), options)).toBe(await appeared);
    expect(await settledWatchHandles()).toBe(before);
  });

  it('does not look at all when the signal is already aborted', async () => {
    node('xvdf');
    const err = await rejection(findDevice(VOLUME, '/dev/xvdf', AbortSignal.abort(), options));
    expect(err.code).toBe('device-missing');
  });
});

describe('device discovery: a detached device leaving', () => {
  it('resolves once the by-id link and the NVMe namespace are gone, through the watch, and closes its watchers', async () => {
    const namespace = nvme('nvme1n1', SERIAL);
    byId(namespace);
    const before = await settledWatchHandles();
    const left = sleep(150).then(() => {
      fs.rmSync(path.join(devDir, 'disk', 'by-id', `nvme-Amazon_Elastic_Block_Store_${SERIAL}`));
      fs.rmSync(namespace);
      fs.rmSync(path.join(sysDir, 'block', 'nvme1n1'), { recursive: true });
    });
    const started = Date.now();
    await waitDeviceGone(VOLUME, '/dev/xvdf', AbortSignal.timeout(10_000), { ...options, pollIntervalMs: 60_000 });
    await left;
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await settledWatchHandles()).toBe(before);
  });

  it('is not fooled by another volume still on the machine, and resolves at once when the device is already gone', async () => {
    nvme('nvme2n1', OTHER_SERIAL);
    await waitDeviceGone(VOLUME, '/dev/xvdf', AbortSignal.timeout(2_000), options);
    node('xvdf');
    const err = await waitDeviceGone(VOLUME, '/dev/xvdf', AbortSignal.timeout(300), options).catch((e: unknown) => e);
    expect((err as Error).name).toMatch(/TimeoutError|AbortError/);
    expect(fs.existsSync(path.join(devDir, 'xvdf'))).toBe(true);
  });
});
