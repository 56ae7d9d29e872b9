/**
 * The volume service when EC2 or the machine fails part-way: whatever a failed call did is undone or handed to
 * the background, so no volume stays attached, made or mounted that nothing will release; and a removed volume
 * leaves nothing behind on this machine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import type { ServiceConfig } from '../../src/volumes/deps';
import { VolumeService } from '../../src/volumes/service';
import { advanceUntilSettled, useFakeClock } from '../support/fake-clock';
import { FakeCloud, FakeHost, HERE, serviceConfig, volumeFixture } from '../support/fakes';
import { waitFor } from '../support/poll';

const OTHER = 'i-0other00000000000';

describe('volume service under failures', () => {
  let stateDir: string;
  let cloud: FakeCloud;
  let host: FakeHost;
  const never = new AbortController().signal;

  const config = (overrides: Partial<ServiceConfig> = {}) => serviceConfig(stateDir, overrides);
  let running: VolumeService[] = [];
  const service = (overrides: Partial<ServiceConfig> = {}) => {
    const volumes = new VolumeService({ cloud, host, config: config(overrides), logger: silentLogger() });
    running.push(volumes);
    return volumes;
  };
  const pendingDetaches = () => JSON.parse(fs.readFileSync(path.join(stateDir, 'pending-detaches.json'), 'utf8')).volumes as Record<string, string>;
  const attachedHere = (volumeId: string) => cloud.volumes.get(volumeId)!.attachments.some((a) => a.instanceId === HERE.instanceId);

  beforeEach(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-failures-'));
    cloud = new FakeCloud();
    host = new FakeHost();
  });
  afterEach(async () => {
    jest.useRealTimers();
    await Promise.all(running.map((volumes) => volumes.shutdown().catch(() => undefined)));
    running = [];
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  describe('a Mount cut off after mount(8), before its user was recorded', () => {
    /** The first run mounted the volume; its record of the user is gone, as when berth is killed at that point. */
    async function mountedWithoutRecord(): Promise<string> {
      const volume = cloud.add(volumeFixture('db'));
      const first = service();
      await first.mount('db', 'm1', never);
      await first.shutdown();
      fs.rmSync(path.join(stateDir, 'mounts.json'));
      return volume.volumeId;
    }

    it('mounts the volume afresh at the next Mount (the cut-off one was never answered)', async () => {
      const volumeId = await mountedWithoutRecord();
      host.calls.length = 0;
      expect(await service().mount('db', 'm2', never)).toBe('/mnt/berth/db/data');
      expect(host.calls.filter((call) => /^(un)?mount /.test(call))).toEqual(['unmount /mnt/berth/db', `mount /dev/fake-${volumeId} /mnt/berth/db`]);
    });

    it('still refuses when another device is mounted there', async () => {
      await mountedWithoutRecord();
      host.mounts.set('/mnt/berth/db', '/dev/somebody-else');
      await expect(service().mount('db', 'm2', never)).rejects.toThrow(/already mounted \(from \/dev\/somebody-else\) but berth has no record of it/);
    });
  });

  describe('a failed Mount leaves the volume as it found it', () => {
    it('detaches a volume whose AttachVolume took effect but answered an error', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      cloud.failNext(`attach ${volume.volumeId}`, { afterEffect: true });
      await expect(volumes.mount('db', 'm1', never)).rejects.toThrow(/injected/);
      expect(attachedHere(volume.volumeId)).toBe(false);
      expect(cloud.calls).toContain(`detach ${volume.volumeId} ${HERE.instanceId}`);
      await volumes.remove('db');
      expect(cloud.volumes.get(volume.volumeId)!.state).toBe('deleted');
    });

    it('hands the detach to the background queue when the rollback\'s own detach fails, and it completes', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      cloud.failNext(`attach ${volume.volumeId}`, { afterEffect: true });
      cloud.failNext(`detach ${volume.volumeId}`);
      await expect(volumes.mount('db', 'm1', never)).rejects.toThrow(/injected/);
      expect(pendingDetaches()).toEqual({ [volume.volumeId]: 'db' });
      await waitFor('the background detach', () => !attachedHere(volume.volumeId), { timeoutMs: 5000, intervalMs: 20 });
      await waitFor('the queue to empty', () => Object.keys(pendingDetaches()).length === 0, { timeoutMs: 2000, intervalMs: 20 });
    });

    it('keeps a background detach it cancelled when the Mount then fails', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      cloud.failNext(`detach ${volume.volumeId}`, { times: 2 });
      await volumes.unmount('db', 'm1');
      expect(pendingDetaches()).toEqual({ [volume.volumeId]: 'db' });
      host.missingDevice = true;
      await expect(volumes.mount('db', 'm2', never)).rejects.toThrow();
      expect(pendingDetaches()).toEqual({ [volume.volumeId]: 'db' });
    });
  });

  describe('a Create that answers Err leaves no volume', () => {
    it('succeeds with the volume its failed call made, when a retry works', async () => {
      const volumes = service();
      cloud.failNext('create db', { afterEffect: true });
      await volumes.create('db', null);
      expect(cloud.count('create db')).toBe(2);
      expect([...cloud.volumes.values()].filter((v) => v.name === 'db' && v.state !== 'deleted')).toHaveLength(1);
    });

    it('deletes the volume it made when EC2 keeps failing', async () => {
      const volumes = service();
      cloud.failNext('create db', { afterEffect: true, times: 10 });
      await expect(volumes.create('db', null)).rejects.toThrow(/injected/);
      expect(cloud.byName('db')).toBeUndefined();
    }, 10_000);

    it('keeps trying to delete it while its own look-ups fail too', async () => {
      const volumes = service();
      cloud.failNext('create db', { afterEffect: true, times: 10 });
      cloud.failNext('findByName db', { times: 3 });
      await expect(volumes.create('db', null)).rejects.toThrow(/injected/);
      expect(cloud.byName('db')).toBeUndefined();
      expect(cloud.count('findByName db')).toBe(4);
    }, 15_000);

    it('never deletes a volume of that name that was there before the call', async () => {
      const volumes = service();
      const earlier = cloud.add(volumeFixture('db', { createTime: new Date(Date.now() - 60_000) }));
      cloud.failNext('create db', { afterEffect: true, times: 10 });
      await expect(volumes.create('db', null)).rejects.toThrow(/injected/);
      expect(cloud.volumes.get(earlier.volumeId)!.state).toBe('available');
      expect(cloud.calls).not.toContain(`delete ${earlier.volumeId}`);
    }, 10_000);
  });

  describe('a Create whose clean-up fails too (EC2 failing longer than 15 s)', () => {
    const live = (name: string) => [...cloud.volumes.values()].filter((v) => v.name === name && v.state !== 'deleted');
    const abandoned = () => JSON.parse(fs.readFileSync(path.join(stateDir, 'abandoned-creates.json'), 'utf8')).creates as Record<string, unknown>;
    async function failedCreateLeavingAVolume(volumes: VolumeService) {
      cloud.failNext('create db', { afterEffect: true, times: 3 });
      cloud.failNext('findByName db', { times: 6 });
      await expect(advanceUntilSettled(volumes.create('db', null))).rejects.toThrow(/deleted in the background once EC2 answers again/);
      expect(live('db')).toHaveLength(1);
      return live('db')[0].volumeId;
    }

    beforeEach(() => useFakeClock());

    it('is hidden from List, Get and Mount until the volume is gone, and deleted in the background, across a restart', async () => {
      const first = service();
      const made = await failedCreateLeavingAVolume(first);
      expect(await first.list()).toEqual([]);
      expect(await first.get('db')).toBeUndefined();
      await expect(first.mount('db', 'm1', never)).rejects.toThrow(/volume db not found/);
      await first.shutdown();
      expect(Object.keys(abandoned())).toEqual(['db']);

      service();
      await advanceUntilSettled(waitFor('the background delete', () => live('db').length === 0 && Object.keys(abandoned()).length === 0, { timeoutMs: 5_000, intervalMs: 10 }));
      expect(cloud.calls).toContain(`delete ${made}`);
    });

    it('is finished by the next Create of the name, which then makes a volume of its own options', async () => {
      const volumes = service();
      const made = await failedCreateLeavingAVolume(volumes);
      await advanceUntilSettled(volumes.create('db', { size: '7' }));
      expect(cloud.volumes.get(made)!.state).toBe('deleted');
      expect(live('db')).toEqual([expect.objectContaining({ sizeGiB: 7 })]);
      expect(abandoned()).toEqual({});
    });

    it('makes the next Create fail, naming why, while EC2 still fails the delete', async () => {
      const volumes = service();
      const made = await failedCreateLeavingAVolume(volumes);
      cloud.failNext(`delete ${made}`);
      await expect(advanceUntilSettled(volumes.create('db', null))).rejects.toThrow(/an earlier Create of db failed and the volume it may have made is not deleted yet/);
      expect(cloud.count('create db')).toBe(3);
      expect(Object.keys(abandoned())).toEqual(['db']);
    });
  });

  describe('Remove waits, boundedly, for a volume on its way off an instance', () => {
    it('removes a volume whose detach berth is retrying in the background', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      cloud.failNext(`detach ${volume.volumeId}`);
      await volumes.unmount('db', 'm1');
      expect(pendingDetaches()).toEqual({ [volume.volumeId]: 'db' });
      await volumes.remove('db');
      expect(cloud.volumes.get(volume.volumeId)!.state).toBe('deleted');
      expect(pendingDetaches()).toEqual({});
    });

    it('waits for another instance to release it (its linger after a short use), then removes it', async () => {
      const volumes = service({ releaseWaitMs: 2000 });
      const volume = cloud.add(volumeFixture('db', { state: 'in-use', attachments: [{ instanceId: OTHER, device: '/dev/xvdf', state: 'attached' }] }));
      setTimeout(() => {
        volume.attachments = [];
        volume.state = 'available';
      }, 300);
      await volumes.remove('db');
      expect(volume.state).toBe('deleted');
    });

    it('refuses, naming the holder, once the wait is over', async () => {
      const volumes = service({ releaseWaitMs: 300 });
      cloud.add(volumeFixture('db', { state: 'in-use', attachments: [{ instanceId: OTHER, device: '/dev/xvdf', state: 'attached' }] }));
      const started = Date.now();
      await expect(volumes.remove('db')).rejects.toThrow(new RegExp(`attached to instance ${OTHER}`));
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });
  });

  describe('a device still held after the last Unmount', () => {
    it('is checked again until it is free, then detached (an mkfs or e2fsck orphaned by a killed daemon lets go by itself)', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      const device = `/dev/fake-${volume.volumeId}`;
      host.inUse.add(device);
      await volumes.unmount('db', 'm1');
      expect(attachedHere(volume.volumeId)).toBe(true);
      setTimeout(() => host.inUse.delete(device), 700);
      await waitFor('the detach once the device is free', () => !attachedHere(volume.volumeId), { timeoutMs: 5000, intervalMs: 20 });
      expect(await volumes.path('db')).toBeUndefined();
    });

    it('stops checking once a Mount takes the volume again', async () => {
      const volumes = service();
      const volume = cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      host.inUse.add(`/dev/fake-${volume.volumeId}`);
      await volumes.unmount('db', 'm1');
      await volumes.mount('db', 'm2', never);
      host.inUse.clear();
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(attachedHere(volume.volumeId)).toBe(true);
      expect(host.mounts.get('/mnt/berth/db')).toBe(`/dev/fake-${volume.volumeId}`);
    });
  });

  describe('a removed volume', () => {
    it('leaves no mount directory behind', async () => {
      const volumes = service();
      cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      await volumes.unmount('db', 'm1');
      expect(host.mountDirs.has('/mnt/berth/db')).toBe(true);
      await volumes.remove('db');
      expect(host.mountDirs.has('/mnt/berth/db')).toBe(false);
    });

    it('keeps its mount directory when the Remove is refused', async () => {
      const volumes = service();
      cloud.add(volumeFixture('db'));
      await volumes.mount('db', 'm1', never);
      await expect(volumes.remove('db')).rejects.toThrow(/mounted on this host/);
      expect(host.calls.filter((call) => call.startsWith('removeMountDir'))).toEqual([]);
    });
  });
});
