/**
 * The catalog's background listing (src/volumes/catalog.ts): volumes.json is written again only when a listing
 * changed something, and every refresh says how long it held up the event loop (a warning when Docker calls waited).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { volumeFixture } from '../support/fakes';
import { capturingLogger } from '../support/logs';
import type { Cloud, CloudVolume, KeepVolume } from '../../src/cloud/types';
import { Catalog, readCatalog } from '../../src/volumes/catalog';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-catalog-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Ids follow names: a volume made again for the same name is the same volume. */
const volume = (name: string, extra: Partial<CloudVolume> = {}): CloudVolume => volumeFixture(name, { volumeId: `vol-${name}`, sizeGiB: 1, ...extra });

/**
 * A cloud whose listing is `listing()` as it is when asked, a moment later, each answer a fresh copy (as EC2's would
 * be) that the caller's `keep` sees as it arrives.
 */
function cloudListing(listing: () => CloudVolume[], whileListing: () => void = () => undefined): Cloud {
  return {
    listVolumes: async (_signal?: AbortSignal, keep: KeepVolume = (listed) => listed) => {
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
      whileListing();
      return listing().map((entry) => keep(structuredClone(entry)));
    },
  } as unknown as Cloud;
}

const file = () => path.join(dir, 'volumes.json');
const inode = () => fs.statSync(file()).ino;

describe('Catalog refresh', () => {
  it('writes volumes.json again only when a listing changed something', async () => {
    let listing = Array.from({ length: 1200 }, (_, i) => volume(`v${i}`));
    const { logger, lines } = capturingLogger();
    const catalog = new Catalog({ file: file(), cloud: cloudListing(() => listing), logger, ttlMs: 0 });
    await catalog.refresh();
    await catalog.close();
    const written = inode();
    expect(readCatalog(file())).toHaveLength(1200);

    await catalog.refresh();
    await catalog.close();
    expect(inode()).toBe(written);

    listing = listing.map((entry, i) => (i === 700 ? volume(entry.name, { state: 'in-use', attachments: [{ instanceId: 'i-1', device: '/dev/sdf', state: 'attached' }] }) : entry));
    await catalog.refresh();
    await catalog.close();
    expect(inode()).not.toBe(written);
    expect(readCatalog(file()).find((entry) => entry.name === 'v700')?.state).toBe('in-use');

    listing = listing.slice(1);
    await catalog.refresh();
    await catalog.close();
    expect(readCatalog(file())).toHaveLength(1199);
    expect(catalog.known('v0')).toBeUndefined();

    // One line per refresh: at debug, or a warning when this machine was busy enough for the loop to wait 100 ms.
    const refreshed = lines.filter((line) => line.message === 'volume listing refreshed' || String(line.message).includes('while the volume listing was refreshed'));
    expect(refreshed.map((line) => line.changed)).toEqual([true, false, true, true]);
    expect(refreshed[0]).toMatchObject({ volumes: 1200, eventLoopMaxDelayMs: expect.any(Number), durationMs: expect.any(Number) });
    expect(['debug', 'warn']).toContain(refreshed[0].level);
  });

  it("keeps its own entry for each volume a listing shows unchanged, and the listing's copy of a changed one", async () => {
    let listing = Array.from({ length: 3 }, (_, i) => volume(`v${i}`));
    const catalog = new Catalog({ file: file(), cloud: cloudListing(() => listing), logger: capturingLogger().logger, ttlMs: 0 });
    await catalog.refresh();
    const before = ['v0', 'v1', 'v2'].map((name) => catalog.known(name));
    listing = listing.map((entry) => (entry.name === 'v1' ? volume('v1', { sizeGiB: 2 }) : entry));
    const listed = await catalog.refresh();
    await catalog.close();
    expect(catalog.known('v0')).toBe(before[0]);
    expect(catalog.known('v2')).toBe(before[2]);
    expect(catalog.known('v1')).not.toBe(before[1]);
    expect(catalog.known('v1')?.sizeGiB).toBe(2);
    expect(listed.find((entry) => entry.name === 'v0')).toBe(before[0]);
  });

  it('warns when the event loop was held up for 100 ms or more during a refresh', async () => {
    const { logger, lines } = capturingLogger();
    const busy = () => {
      const until = Date.now() + 150;
      while (Date.now() < until);
    };
    const catalog = new Catalog({ file: file(), cloud: cloudListing(() => [volume('a')], busy), logger, ttlMs: 0 });
    await catalog.refresh();
    await catalog.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const warning = lines.find((line) => line.level === 'warn');
    expect(warning).toMatchObject({ message: expect.stringContaining('event loop was held up'), volumes: 1 });
    expect(warning.eventLoopMaxDelayMs).toBeGreaterThanOrEqual(100);
  });
});
