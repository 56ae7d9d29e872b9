/** The day-two operations of the volume service (modify, release, snapshots) against the in-memory cloud and host. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import type { ProgressEvent } from '../../src/volumes/operations';
import { VolumeService } from '../../src/volumes/service';
import { FakeCloud, FakeHost, HERE, serviceConfig, volumeFixture } from '../support/fakes';

describe('day-two operations', () => {
  let stateDir: string;
  let cloud: FakeCloud;
  let host: FakeHost;
  let service: VolumeService;
  const never = new AbortController().signal;
  const events: ProgressEvent[] = [];
  const progress = (event: ProgressEvent) => events.push(event);

  beforeEach(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-admin-'));
    cloud = new FakeCloud();
    host = new FakeHost();
    host.defaultProbe = { fsType: 'ext4' };
    events.length = 0;
    service = new VolumeService({ cloud, host, config: serviceConfig(stateDir), logger: silentLogger() });
  });
  afterEach(async () => {
    await service.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const gp2 = (name: string) => cloud.add(volumeFixture(name, { sizeGiB: 20, volumeType: 'gp2', iops: 100, throughput: undefined, unformatted: false }));

  describe('modify', () => {
    it('moves gp2 to gp3 and grows a volume mounted here online, with progress, and says so', async () => {
      const volume = gp2('db');
      await service.mount('db', 'c1', never);
      const result = await service.admin.modify('db', { sizeGiB: 40, volumeType: 'gp3' }, progress, never);
      expect(cloud.calls).toContain(`modifyVolume ${volume.volumeId} ${JSON.stringify({ sizeGiB: 40, volumeType: 'gp3' })}`);
      expect(result.filesystem).toBe('grown');
      expect(result.volume).toMatchObject({ sizeGiB: 40, volumeType: 'gp3', mountedHere: true, users: 1 });
      expect(host.calls).toContain(`growMounted /dev/fake-${volume.volumeId} /mnt/berth/db ext4`);
      expect(events.map((event) => event.step)).toEqual(expect.arrayContaining(['modifying', 'growing']));
    });

    it('leaves the filesystem of a volume mounted nowhere here to its next mount', async () => {
      gp2('db');
      const result = await service.admin.modify('db', { sizeGiB: 30 }, progress, never);
      expect(result.filesystem).toBe('at-next-mount');
      expect(result.message).toMatch(/not mounted on this host.*next mounted/);
      expect(host.calls.filter((call) => call.startsWith('growMounted'))).toEqual([]);
    });

    it('says plainly when ext4 cannot grow online for want of CAP_SYS_RESOURCE', async () => {
      gp2('db');
      await service.mount('db', 'c1', never);
      host.onlineGrowth = 'not-permitted';
      const result = await service.admin.modify('db', { sizeGiB: 30 }, progress, never);
      expect(result.filesystem).toBe('at-next-mount');
      expect(result.message).toMatch(/CAP_SYS_RESOURCE/);
    });

    it('changes type without touching the filesystem', async () => {
      gp2('db');
      await service.mount('db', 'c1', never);
      const result = await service.admin.modify('db', { volumeType: 'gp3', iops: 4000, throughput: 250 }, progress, never);
      expect(result.filesystem).toBe('unchanged');
      expect(host.calls.filter((call) => call.startsWith('growMounted'))).toEqual([]);
    });

    it.each([
      [{ sizeGiB: 10 }, 'size', /size only grows: volume db is 20 GiB/],
      [{ sizeGiB: 20 }, 'change', /nothing to change: volume db is already 20 GiB gp2/],
      [{ volumeType: 'gp9' }, 'type', /type must be one of gp3, gp2/],
      [{ volumeType: 'st1' }, 'size', /st1 volumes need at least 125 GiB/],
      [{ throughput: 300 }, 'throughput', /gp2 volumes take no throughput setting/],
      [{ volumeType: 'gp3', iops: 100 }, 'iops', /gp3 volumes need at least 3000 IOPS/],
      [{ volumeType: 'io2' }, 'iops', /io2 volumes need iops/],
      [{ sizeGiB: 1.5 }, 'size', /whole number/],
      [{ size: 30 }, 'size', /unknown field "size"/],
      [{}, 'change', /nothing to change/],
    ])('refuses %j before calling ModifyVolume, naming %s', async (change, field, message) => {
      gp2('db');
      await expect(service.admin.modify('db', change as never, progress, never)).rejects.toMatchObject({ field, message: expect.stringMatching(message) });
      expect(cloud.calls.filter((call) => call.startsWith('modifyVolume'))).toEqual([]);
    });

    it('waits for a modification EC2 still runs before asking for the next', async () => {
      const volume = gp2('db');
      cloud.modifyingPolls = 3;
      cloud.optimizingPolls = 3;
      await service.admin.modify('db', { sizeGiB: 30 }, progress, never);
      events.length = 0;
      const result = await service.admin.modify('db', { sizeGiB: 40 }, progress, never);
      expect(result.volume.sizeGiB).toBe(40);
      expect(events[0]).toMatchObject({ step: 'waiting', message: expect.stringMatching(/being modified already/) });
      expect(cloud.modifications.get(volume.volumeId)?.targetSizeGiB).toBe(40);
    });

    it('answers not-found for a volume EC2 does not have', async () => {
      await expect(service.admin.modify('ghost', { sizeGiB: 30 }, progress, never)).rejects.toMatchObject({ code: 'not-found' });
    });
  });

  describe('release', () => {
    const heldBy = (instanceId: string) =>
      cloud.add(volumeFixture('db', { unformatted: false, state: 'in-use', attachments: [{ instanceId, device: '/dev/xvdf', state: 'attached' }] }));

    it('refuses to take a volume from a running instance without --force, naming it', async () => {
      heldBy('i-0other00000000000');
      await expect(service.admin.release('db', false, never)).rejects.toMatchObject({
        code: 'attached-elsewhere',
        message: expect.stringMatching(/attached to instance i-0other00000000000, which is running.*--force/),
      });
      expect(cloud.calls.filter((call) => call.startsWith('detach'))).toEqual([]);
    });

    it('detaches from a stopped instance without forcing, and force-detaches from a running one with --force', async () => {
      const volume = heldBy('i-0other00000000000');
      cloud.instanceStates.set('i-0other00000000000', 'stopped');
      expect(await service.admin.release('db', false, never)).toMatchObject({ releasedFrom: 'i-0other00000000000', holderState: 'stopped', forced: false });
      expect(cloud.calls).toContain(`detach ${volume.volumeId} i-0other00000000000`);

      volume.attachments = [{ instanceId: 'i-0third00000000000', device: '/dev/xvdg', state: 'attached' }];
      expect(await service.admin.release('db', true, never)).toMatchObject({ releasedFrom: 'i-0third00000000000', holderState: 'running', forced: true });
      expect(cloud.calls).toContain(`detach ${volume.volumeId} i-0third00000000000 force`);
    });

    it('never touches a volume that containers on this host use', async () => {
      cloud.add(volumeFixture('db', { unformatted: false }));
      await service.mount('db', 'c1', never);
      await expect(service.admin.release('db', true, never)).rejects.toMatchObject({ code: 'in-use', message: expect.stringMatching(/in use on this host by 1 container/) });
      expect(cloud.calls.filter((call) => call.startsWith('detach'))).toEqual([]);
    });

    it('releases a volume attached here that nothing uses', async () => {
      const volume = cloud.add(volumeFixture('db', { unformatted: false, state: 'in-use', attachments: [{ instanceId: HERE.instanceId, device: '/dev/xvdf', state: 'attached' }] }));
      expect(await service.admin.release('db', false, never)).toMatchObject({ releasedFrom: HERE.instanceId });
      expect(cloud.calls).toContain(`detach ${volume.volumeId} ${HERE.instanceId}`);
    });
  });

  describe('snapshots', () => {
    it('snapshots a volume with its tags, reporting EC2\'s progress until completed', async () => {
      const volume = gp2('db');
      const snapshot = await service.admin.createSnapshot('db', { purpose: 'before-upgrade' }, progress, never);
      expect(snapshot).toMatchObject({ volume: 'db', volumeId: volume.volumeId, state: 'completed', progress: 100, tags: { purpose: 'before-upgrade' } });
      expect(events.map((event) => event.percent)).toEqual(expect.arrayContaining([0, 50]));
      expect((await service.admin.snapshots('db')).map((found) => found.snapshotId)).toEqual([snapshot.snapshotId]);
    });

    it.each([
      [{ 'berth:name': 'x' }, /reserved/],
      [{ 'aws:x': 'y' }, /reserved/],
      [{ k: 5 }, /text value/],
      [{ ['k'.repeat(129)]: 'v' }, /1 to 128 characters/],
    ])('refuses tags %j naming the tag field', async (tags, message) => {
      gp2('db');
      await expect(service.admin.createSnapshot('db', tags as never, progress, never)).rejects.toMatchObject({ field: 'tag', message: expect.stringMatching(message) });
      expect(cloud.calls.filter((call) => call.startsWith('createSnapshot'))).toEqual([]);
    });

    it('refuses a malformed snapshot id before asking EC2', async () => {
      await expect(service.admin.removeSnapshot('snap-xyz')).rejects.toMatchObject({ field: 'snapshot' });
      expect(cloud.calls.filter((call) => call.startsWith('deleteSnapshot'))).toEqual([]);
    });
  });
});
