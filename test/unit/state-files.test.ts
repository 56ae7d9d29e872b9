/**
 * The state files' versions (src/volumes/state-file.ts): the previous release's files are read as they are, an
 * earlier version is upgraded in memory and written back at the next write, and a version this berth does not know
 * is refused without losing the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Catalog, readCatalog } from '../../src/volumes/catalog';
import { PendingDetaches } from '../../src/volumes/pending-detaches';
import { Refcounts } from '../../src/volumes/refcounts';
import { StateFile } from '../../src/volumes/state-file';
import { capturingLogger } from '../support/logs';
import type { Cloud } from '../../src/cloud/types';

const FIXTURES = path.join(__dirname, 'fixtures/state-v1');
const FIXTURE_BOOT = '6f1d1e0c-5b9b-4c57-9a52-2a0b2f3c4d5e';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-state-'));
  for (const name of fs.readdirSync(FIXTURES)) fs.copyFileSync(path.join(FIXTURES, name), path.join(dir, name));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string) => path.join(dir, name);
const text = (name: string) => fs.readFileSync(file(name), 'utf8');
const noCloud = {} as Cloud;

describe('state files of the previous release (version 1)', () => {
  it('mounts.json: every user of every volume, and the boot they were recorded in', async () => {
    const refcounts = new Refcounts(file('mounts.json'), FIXTURE_BOOT);
    expect(refcounts.names()).toEqual(['postgres', 'redis']);
    expect(refcounts.users('postgres')).toBe(2);
    expect(refcounts.get('redis')).toMatchObject({ volumeId: 'vol-0fedcba9876543210', device: '/dev/xvdg', ids: { feed0001: 1 } });
    expect(refcounts.fromEarlierBoot).toBe(false);
    expect(refcounts.onlyInheritedUsers('postgres')).toBe(true);
    const before = text('mounts.json');
    await refcounts.persist();
    expect(text('mounts.json')).toBe(before);
  });

  it('volumes.json: every volume as it was cached', async () => {
    const volumes = readCatalog(file('volumes.json'));
    expect(volumes.map((volume) => [volume.name, volume.volumeId, volume.createTime.toISOString()])).toEqual([
      ['postgres', 'vol-0123456789abcdef0', '2026-11-01T10:00:00.000Z'],
      ['redis', 'vol-0fedcba9876543210', '2026-11-01T10:00:00.000Z'],
    ]);
    expect(volumes[1].format).toEqual({ fsType: 'xfs', mkfsOptions: ['-b', 'size=4096'], uid: 999, gid: 999, mode: 0o750 });
    const { logger } = capturingLogger();
    const catalog = new Catalog({ file: file('volumes.json'), cloud: noCloud, logger, ttlMs: 1000 });
    expect(catalog.known('postgres')?.attachments).toEqual([{ instanceId: 'i-0123456789abcdef0', device: '/dev/sdf', state: 'attached' }]);
    const before = text('volumes.json');
    await catalog.remember(catalog.known('redis')!);
    await catalog.close();
    // Written again (compact, a slice at a time), it holds the same document the previous release reads.
    expect(JSON.parse(text('volumes.json'))).toEqual(JSON.parse(before));
  });

  it('pending-detaches.json: the volumes still to detach', async () => {
    const { logger } = capturingLogger();
    const pending = new PendingDetaches(file('pending-detaches.json'), noCloud, logger, async () => undefined);
    pending.stop();
    await pending.cancel('vol-0aaaaaaaaaaaaaaaa');
    expect(JSON.parse(text('pending-detaches.json'))).toEqual({ version: 1, volumes: {} });
  });
});

describe('a state file of a version this berth does not read', () => {
  const newer = (name: string, body: object) => fs.writeFileSync(file(name), JSON.stringify({ version: 2, ...body, addedLater: true }));

  it('mounts.json from a newer berth: refused with an error naming it, kept aside unchanged, and not overwritten until berth writes', async () => {
    newer('mounts.json', { mounts: JSON.parse(text('mounts.json')).mounts });
    const original = text('mounts.json');
    const { logger, lines } = capturingLogger();
    const refcounts = new Refcounts(file('mounts.json'), FIXTURE_BOOT, logger);
    expect(refcounts.names()).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: expect.stringMatching(/newer berth/),
        file: file('mounts.json'),
        version: 2,
        readsVersion: 1,
        keptAs: file('mounts.json.v2.unreadable'),
      }),
    ]);
    expect(fs.readFileSync(file('mounts.json.v2.unreadable'), 'utf8')).toBe(original);
    expect(text('mounts.json')).toBe(original);
    new Refcounts(file('mounts.json'), FIXTURE_BOOT, logger);
    expect(fs.readdirSync(dir).filter((name) => name.includes('unreadable'))).toEqual(['mounts.json.v2.unreadable']);
    await refcounts.persist();
    expect(JSON.parse(text('mounts.json'))).toMatchObject({ version: 1, mounts: {} });
    expect(fs.readFileSync(file('mounts.json.v2.unreadable'), 'utf8')).toBe(original);
  });

  it('volumes.json and pending-detaches.json from a newer berth: refused the same way', () => {
    newer('volumes.json', { volumes: {} });
    newer('pending-detaches.json', { volumes: { 'vol-0aaaaaaaaaaaaaaaa': 'x' } });
    const { logger, lines } = capturingLogger();
    expect(readCatalog(file('volumes.json'), logger)).toEqual([]);
    new PendingDetaches(file('pending-detaches.json'), noCloud, logger, async () => undefined).stop();
    expect(lines.map((line) => [line.level, line.keptAs])).toEqual([
      ['error', file('volumes.json.v2.unreadable')],
      ['error', file('pending-detaches.json.v2.unreadable')],
    ]);
  });

  it('a file without a version is refused too', () => {
    fs.writeFileSync(file('mounts.json'), JSON.stringify({ mounts: {} }));
    const { logger, lines } = capturingLogger();
    expect(new Refcounts(file('mounts.json'), FIXTURE_BOOT, logger).names()).toEqual([]);
    expect(lines[0]).toMatchObject({ level: 'error', version: null, keptAs: file('mounts.json.vunknown.unreadable') });
  });
});

describe('upgrading an earlier version', () => {
  type V3 = { version: 3; items: Array<{ id: string; note: string }> };
  const format = {
    version: 3 as const,
    empty: (): V3 => ({ version: 3, items: [] }),
    upgrades: {
      1: (document: { version: 1; ids: string[] }) => ({ version: 2, items: document.ids.map((id) => ({ id })) }),
      2: (document: { version: 2; items: Array<{ id: string }> }) => ({ version: 3, items: document.items.map((item) => ({ ...item, note: '' })) }),
    },
  };

  it('upgrades step by step in memory; the file keeps its version until the next write, which writes the current one', async () => {
    fs.writeFileSync(file('items.json'), JSON.stringify({ version: 1, ids: ['a', 'b'] }));
    const state = new StateFile<V3>(file('items.json'), format, { logger: capturingLogger().logger });
    const document = state.read();
    expect(document).toEqual({ version: 3, items: [{ id: 'a', note: '' }, { id: 'b', note: '' }] });
    expect(JSON.parse(text('items.json')).version).toBe(1);
    await state.write(document);
    expect(JSON.parse(text('items.json'))).toEqual(document);
  });

  it('refuses an earlier version it has no upgrade for', () => {
    fs.writeFileSync(file('items.json'), JSON.stringify({ version: 0 }));
    const { logger, lines } = capturingLogger();
    expect(new StateFile<V3>(file('items.json'), format, { logger }).read()).toEqual({ version: 3, items: [] });
    expect(lines[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/does not read/), keptAs: file('items.json.v0.unreadable') });
  });
});

describe('a state dir that is a symlink (the plugin rootfs links /var/lib/berth into the propagated mount)', () => {
  it('is made where the link points at the first write, and read through the link afterwards', async () => {
    const target = path.join(dir, 'propagated/.berth');
    fs.mkdirSync(path.join(dir, 'propagated'));
    fs.symlinkSync('propagated/.berth', file('linked'));
    const mounts = new Refcounts(file('linked/mounts.json'), FIXTURE_BOOT);
    await mounts.acquire('db', 'container-1', { volumeId: 'vol-1', device: '/dev/xvdf', mountpoint: '/m/db' });
    expect(fs.readdirSync(target)).toEqual(['mounts.json']);
    expect(new Refcounts(file('linked/mounts.json'), FIXTURE_BOOT).users('db')).toBe(1);
  });
});
