/** The endpoint's bulk route (src/localec2/bulk-volumes.ts): CreateVolume's defaults and tag rules, one save. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Ctx } from '../../src/localec2/actions/context';
import { createBulkVolumes, parseBulkVolumes } from '../../src/localec2/bulk-volumes';
import { emptyState } from '../../src/localec2/state';
import { silentLogger } from '../../src/log';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bulk-'));
  fs.mkdirSync(path.join(dir, 'volumes'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function ctx(): Ctx & { commits: number } {
  const context = { state: emptyState(), dataDir: dir, log: silentLogger(), commits: 0, commit: () => context.commits++ };
  return context as unknown as Ctx & { commits: number };
}

describe('POST /_berth/volumes', () => {
  it('makes available volumes with CreateVolume\'s defaults, a sparse file each, and saves once', async () => {
    const context = ctx();
    const ids = await createBulkVolumes(context, parseBulkVolumes({ volumes: [{ availabilityZone: 'us-east-1a', sizeGiB: 2, tags: { 'berth:name': 'a' } }, { availabilityZone: 'us-east-1a', sizeGiB: 1, volumeType: 'gp3' }] }));
    expect(ids).toHaveLength(2);
    expect(context.state.volumes[ids[0]]).toMatchObject({ lifecycle: 'available', sizeGiB: 2, volumeType: 'gp2', tags: { 'berth:name': 'a' } });
    expect(context.state.volumes[ids[1]]).toMatchObject({ volumeType: 'gp3', iops: 3000, throughput: 125 });
    expect(context.state.volumes[ids[0]].attachment).toBeUndefined();
    expect(fs.statSync(path.join(dir, 'volumes', `${ids[0]}.img`)).size).toBe(2 * 1024 ** 3);
    expect(context.commits).toBe(1);
  });

  it('refuses a malformed body, or a volume EC2 would refuse, before making any', async () => {
    expect(() => parseBulkVolumes({ volumes: [{ availabilityZone: 'nowhere', sizeGiB: 1 }] })).toThrow(/availabilityZone/);
    expect(() => parseBulkVolumes({})).toThrow(/expected/);
    const context = ctx();
    await expect(createBulkVolumes(context, parseBulkVolumes({ volumes: [{ availabilityZone: 'us-east-1a', sizeGiB: 1 }, { availabilityZone: 'us-east-1a', sizeGiB: 1, tags: { 'aws:x': 'y' } }] }))).rejects.toThrow(/aws:/);
    expect(context.state.volumes).toEqual({});
    expect(context.commits).toBe(0);
  });
});
