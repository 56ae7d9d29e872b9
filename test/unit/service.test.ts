import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import type { ServiceConfig } from '../../src/volumes/deps';
import { VolumeService } from '../../src/volumes/service';
import { advanceUntilSettled, useFakeClock } from '../support/fake-clock';
import { FakeCloud, FakeHost, HERE, serviceConfig, volumeFixture } from '../support/fakes';
import { waitFor } from '../support/poll';

/** After the clock moved: lets the service's real I/O finish, up to a bound, before the test asserts the outcome. */
const settledWhen = (condition: () => boolean) => waitFor('the service to settle', condition, { timeoutMs: 2000, intervalMs: 5 }).catch(() => undefined);

describe('volume service', () => {
  let stateDir: string;
  let cloud: FakeCloud;
  let host: FakeHost;
  const never = new AbortController().signal;

  const config = (overrides: Partial<ServiceConfig> = {}) => serviceConfig(stateDir, overrides);
  let running: VolumeService[] = [];
  /** Shut down after each test, so no background write recreates the removed state dir. */
  const track = (volumes: VolumeService) => (running.push(volumes), volumes);
  const service = (overrides: Partial<ServiceConfig> = {}) => track(new VolumeService({ cloud, host, config: config(overrides), logger: silentLogger() }));

  beforeEach(() => {
    useFakeClock();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-service-'));
    cloud = new FakeCloud();
    host = new FakeHost();
  });
  afterEach(async () => {
    await Promise.all(running.map((volumes) => volumes.shutdown().catch(() => undefined)));
    running = [];
    jest.useRealTimers();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses bad options without calling EC2', async () => {
    await expect(service().create('db', { size: 'big' })).rejects.toThrow(/size/);
    await expect(service().create('db', { colour: 'blue' })).rejects.toThrow(/colour/);
    await expect(service().create('../etc', null)).rejects.toThrow(/name/);
    expect(cloud.calls).toEqual([]);
  });

  it('mounts a new volume: attach, format once, mount, data dir; the container gets <root>/<name>/data', async () => {
    const volumes = service();
    await volumes.create('db', { size: '20' });
    const volume = cloud.byName('db')!;
    expect(await volumes.mount('db', 'm1', never)).toBe('/mnt/berth/db/data');
    expect(host.calls).toContain(`format /dev/fake-${volume.volumeId} ext4`);
    expect(cloud.calls).toContain(`markFormatted ${volume.volumeId}`);
    expect(host.mounts.get('/mnt/berth/db')).toBe(`/dev/fake-${volume.volumeId}`);
    await volumes.unmount('db', 'm1');
    await volumes.mount('db', 'm2', never);
    expect(host.calls.filter((call) => call.startsWith('format'))).toHaveLength(1);
    expect(host.calls).toContain(`check /dev/fake-${volume.volumeId}`);
  });

  it('counts users per (name, ID) as a multiset and releases after the last', async () => {
    const volumes = service();
    const volume = cloud.add(volumeFixture('shared'));
    await volumes.get('shared');
    await volumes.mount('shared', 'a', never);
    await volumes.mount('shared', 'b', never);
    await volumes.mount('shared', 'a', never); // docker cp on a running container: same ID again
    await volumes.unmount('shared', 'a');
    await volumes.unmount('shared', 'b');
    expect(host.mounts.has('/mnt/berth/shared')).toBe(true);
    await volumes.unmount('shared', 'a');
    expect(host.mounts.has('/mnt/berth/shared')).toBe(false);
    expect(cloud.calls).toContain(`detach ${volume.volumeId} ${HERE.instanceId}`);
  });

  it('two containers starting at once get one attach and one mount', async () => {
    const volumes = service();
    const volume = cloud.add(volumeFixture('race'));
    await Promise.all([volumes.mount('race', 'a', never), volumes.mount('race', 'b', never), volumes.mount('race', 'c', never)]);
    expect(cloud.count(`attach ${volume.volumeId}`)).toBe(1);
    expect(host.calls.filter((call) => call.startsWith('mount '))).toHaveLength(1);
  });

  it('keeps the counts across a daemon restart while containers hold the volume', async () => {
    cloud.add(volumeFixture('kept'));
    const first = service();
    await first.mount('kept', 'a', never);
    await first.mount('kept', 'b', never);
    await first.shutdown();
    host.inUse.add(host.mounts.get('/mnt/berth/kept')!); // the containers' own mounts
    const second = service();
    await second.reconcile();
    await second.unmount('kept', 'a');
    expect(host.mounts.has('/mnt/berth/kept')).toBe(true);
    expect(await second.path('kept')).toBe('/mnt/berth/kept/data');
    host.inUse.clear();
    await second.unmount('kept', 'b');
    expect(host.mounts.has('/mnt/berth/kept')).toBe(false);
    await second.shutdown();
  });

  it('after a restart, drops recorded users whose containers are gone (Docker never unmounts those) and detaches the volume', async () => {
    const volume = cloud.add(volumeFixture('orphaned'));
    const first = service();
    await first.mount('orphaned', 'died-with-dockerd', never);
    await first.shutdown();
    const second = service();
    await second.reconcile();
    expect(host.mounts.has('/mnt/berth/orphaned')).toBe(false);
    expect(await second.path('orphaned')).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1300); // the background detach
    await settledWhen(() => volume.attachments.length === 0);
    expect(volume.attachments).toEqual([]);
    await second.shutdown();
  });

  it('releases a volume whose last remaining users are from before the restart once nothing holds it', async () => {
    const volume = cloud.add(volumeFixture('pinned'));
    const first = service();
    await first.mount('pinned', 'old-task', never);
    await first.shutdown();
    const device = host.mounts.get('/mnt/berth/pinned')!;
    host.inUse.add(device); // the old task's container is still being killed while berth starts
    const second = service();
    await second.reconcile();
    expect(host.mounts.get('/mnt/berth/pinned')).toBe(device);
    await second.mount('pinned', 'new-task', never);
    host.inUse.delete(device); // the old container is gone, without an Unmount
    await second.unmount('pinned', 'new-task');
    expect(host.mounts.has('/mnt/berth/pinned')).toBe(false);
    expect(volume.attachments).toEqual([]);
    await second.shutdown();
  });

  it('after Docker unmounted its side (plugin disabled with --force), mounts the in-use volume again without checking it, and releases it after the last user', async () => {
    const volume = cloud.add(volumeFixture('held'));
    const first = service();
    await first.mount('held', 'writer', never);
    const device = host.mounts.get('/mnt/berth/held')!;
    host.mounts.clear();
    host.inUse.add(device);
    const second = service();
    await second.reconcile();
    expect(await second.path('held')).toBe('/mnt/berth/held/data');
    const checksBefore = host.calls.filter((call) => call.startsWith('check')).length;
    await second.mount('held', 'reader', never);
    expect(host.calls.filter((call) => call.startsWith('check')).length).toBe(checksBefore);
    expect(host.mounts.get('/mnt/berth/held')).toBe(device);
    await second.unmount('held', 'reader');
    expect(host.mounts.has('/mnt/berth/held')).toBe(true);
    host.inUse.delete(device); // the writer's container stops
    await second.unmount('held', 'writer');
    expect(host.mounts.has('/mnt/berth/held')).toBe(false);
    expect(volume.attachments).toEqual([]);
  });

  it('after a reboot forgets every recorded mount and detaches its volume in the background', async () => {
    const volume = cloud.add(volumeFixture('rebooted'));
    const before = track(new VolumeService({ cloud, host, config: config(), logger: silentLogger(), bootId: 'boot-1' }));
    await before.mount('rebooted', 'a', never);
    host.mounts.clear();
    const after = track(new VolumeService({ cloud, host, config: config(), logger: silentLogger(), bootId: 'boot-2' }));
    await after.reconcile();
    expect(await after.path('rebooted')).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1300);
    await settledWhen(() => volume.attachments.length === 0);
    expect(volume.attachments).toEqual([]);
    await after.shutdown();
  });

  it('refuses a volume attached to another instance, naming it; with preemption takes it over', async () => {
    const volume = cloud.add(volumeFixture('held', { attachments: [{ instanceId: 'i-0other00000000000', device: '/dev/xvdf', state: 'attached' }], state: 'in-use' }));
    await expect(advanceUntilSettled(service().mount('held', 'a', never))).rejects.toThrow(/attached to instance i-0other00000000000/);
    expect(cloud.count('attach')).toBe(0);
    await expect(advanceUntilSettled(service({ preempt: true }).mount('held', 'a', never))).resolves.toBe('/mnt/berth/held/data');
    expect(cloud.calls).toContain(`detach ${volume.volumeId} i-0other00000000000 force`);
  });

  it('waits for another instance that is releasing the volume, and mounts it without preemption', async () => {
    const volume = cloud.add(volumeFixture('moving', { attachments: [{ instanceId: 'i-0other00000000000', device: '/dev/xvdf', state: 'attached' }], state: 'in-use' }));
    setTimeout(() => (volume.attachments = []), 400); // the old task's Unmount arrives there
    await expect(advanceUntilSettled(service({ releaseWaitMs: 1500 }).mount('moving', 'a', never))).resolves.toBe('/mnt/berth/moving/data');
    expect(cloud.calls.filter((call) => call.includes('force'))).toEqual([]);
    expect(volume.attachments).toMatchObject([{ instanceId: HERE.instanceId }]);
  });

  it('keeps a briefly mounted volume attached for the release delay, so the container start reuses it', async () => {
    const volume = cloud.add(volumeFixture('copied'));
    const volumes = service({ releaseDelayMs: 400 });
    await volumes.mount('copied', 'container', never); // Docker's create: copy the image's content
    await volumes.unmount('copied', 'container');
    await volumes.mount('copied', 'container', never); // and start
    expect(cloud.count(`attach ${volume.volumeId}`)).toBe(1);
    expect(cloud.count('detach')).toBe(0);
    await volumes.unmount('copied', 'container');
    expect(host.mounts.has('/mnt/berth/copied')).toBe(true);
    await jest.advanceTimersByTimeAsync(600);
    await settledWhen(() => !host.mounts.has('/mnt/berth/copied') && volume.attachments.length === 0);
    expect(host.mounts.has('/mnt/berth/copied')).toBe(false);
    expect(volume.attachments).toEqual([]);
    await volumes.shutdown();
  });

  it('releases at once a volume that served a container longer than the release delay', async () => {
    const volume = cloud.add(volumeFixture('served'));
    const volumes = service({ releaseDelayMs: 200 }); // shorter than the one second that counts as a short use
    await volumes.mount('served', 'database', never);
    await jest.advanceTimersByTimeAsync(250);
    await volumes.unmount('served', 'database');
    expect(host.mounts.has('/mnt/berth/served')).toBe(false);
    expect(volume.attachments).toEqual([]);
  });

  it('removes a lingering volume at once (released first), and releases lingering volumes at shutdown', async () => {
    const removed = cloud.add(volumeFixture('short-lived'));
    const kept = cloud.add(volumeFixture('kept-briefly'));
    const volumes = service({ releaseDelayMs: 60_000 });
    for (const name of ['short-lived', 'kept-briefly']) {
      await volumes.mount(name, 'c', never);
      await volumes.unmount(name, 'c');
    }
    await volumes.remove('short-lived');
    expect(cloud.calls).toContain(`delete ${removed.volumeId}`);
    expect(host.mounts.has('/mnt/berth/short-lived')).toBe(false);
    expect(host.mounts.has('/mnt/berth/kept-briefly')).toBe(true);
    await volumes.shutdown();
    expect(host.mounts.has('/mnt/berth/kept-briefly')).toBe(false);
    expect(kept.attachments).toEqual([]);
  });

  it('refuses a volume in another availability zone, naming both', async () => {
    cloud.add(volumeFixture('far', { availabilityZone: 'us-east-1b' }));
    await expect(service().mount('far', 'a', never)).rejects.toThrow(/us-east-1b.*us-east-1a.*crossAZ=snapshot/);
    expect(cloud.count('moveToZone')).toBe(0);
  });

  it('moves a crossAZ=snapshot volume into this zone, once, and mounts the moved volume', async () => {
    const far = cloud.add(volumeFixture('mover', { availabilityZone: 'us-east-1b', crossAZ: 'snapshot', unformatted: false }));
    host.defaultProbe = { fsType: 'ext4' };
    const volumes = service();
    await Promise.all([volumes.mount('mover', 'a', never), volumes.mount('mover', 'b', never)]);
    expect(cloud.calls.filter((call) => call.startsWith('moveToZone'))).toEqual([`moveToZone ${far.volumeId} us-east-1a`]);
    const moved = cloud.byName('mover')!;
    expect(moved.availabilityZone).toBe('us-east-1a');
    expect(cloud.calls).toContain(`attach ${moved.volumeId}`);
    expect(cloud.calls).not.toContain(`attach ${far.volumeId}`);
  });

  it('does not move a crossAZ volume that another instance still uses', async () => {
    cloud.add(volumeFixture('busy-far', { availabilityZone: 'us-east-1b', crossAZ: 'snapshot', attachments: [{ instanceId: 'i-0other00000000000', device: '/dev/xvdf', state: 'attached' }] }));
    await expect(service().mount('busy-far', 'a', never)).rejects.toThrow(/attached to instance i-0other00000000000/);
    expect(cloud.count('moveToZone')).toBe(0);
  });

  it('never formats a device that holds a filesystem, a partition table, or a volume not created empty by berth', async () => {
    const volumes = service();
    const withFs = cloud.add(volumeFixture('hasfs'));
    host.devices.set(`/dev/fake-${withFs.volumeId}`, { fsType: 'xfs' });
    await volumes.mount('hasfs', 'a', never);
    expect(host.calls).toContain(`mount /dev/fake-${withFs.volumeId} /mnt/berth/hasfs`);

    const partitioned = cloud.add(volumeFixture('parts'));
    host.devices.set(`/dev/fake-${partitioned.volumeId}`, { partitionTable: 'gpt' });
    await expect(volumes.mount('parts', 'a', never)).rejects.toThrow(/partition table/);

    cloud.add(volumeFixture('raw', { unformatted: false }));
    await expect(volumes.mount('raw', 'a', never)).rejects.toThrow(/refusing to format/);
    cloud.add(volumeFixture('old', { owner: 'rexray', unformatted: false }));
    await expect(volumes.mount('old', 'a', never)).rejects.toThrow(/refusing to format/);
    expect(host.calls.filter((call) => call.startsWith('format'))).toEqual([]);
  });

  it('rolls back the attach when the device never appears, within the deadline', async () => {
    jest.useRealTimers(); // the Mount's deadline is an AbortSignal.timeout, which fake timers do not reach
    const volume = cloud.add(volumeFixture('lost'));
    host.missingDevice = true;
    const started = Date.now();
    await expect(service({ mountTimeoutMs: 300 }).mount('lost', 'a', never)).rejects.toThrow(/did not appear/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(cloud.calls).toContain(`detach ${volume.volumeId} ${HERE.instanceId}`);
    expect(volume.attachments).toEqual([]);
  });

  it('rolls back when Docker hangs up', async () => {
    jest.useRealTimers(); // the hang-up must come once the Mount waits for its device, as it does in real time
    const volume = cloud.add(volumeFixture('hangup'));
    host.missingDevice = true;
    const docker = new AbortController();
    const mounting = service().mount('hangup', 'a', docker.signal);
    setTimeout(() => docker.abort(), 50);
    await expect(mounting).rejects.toThrow();
    expect(volume.attachments).toEqual([]);
  });

  it('refuses to remove a volume in use here or attached anywhere', async () => {
    const volumes = service();
    cloud.add(volumeFixture('busy'));
    await volumes.mount('busy', 'a', never);
    await expect(volumes.remove('busy')).rejects.toThrow(/mounted on this host/);
    cloud.add(volumeFixture('elsewhere', { attachments: [{ instanceId: 'i-0other00000000000', device: '/dev/xvdg', state: 'attached' }] }));
    await expect(advanceUntilSettled(volumes.remove('elsewhere'))).rejects.toThrow(/attached to instance i-0other00000000000/);
    expect(cloud.count('delete')).toBe(0);
  });

  it('honours EBS_REMOVE, and never deletes an adopted REX-Ray volume unless told to', async () => {
    const own = cloud.add(volumeFixture('own'));
    await service().remove('own');
    expect(cloud.calls).toContain(`delete ${own.volumeId}`);

    const adopted = cloud.add(volumeFixture('legacy', { owner: 'rexray', unformatted: false }));
    await service().remove('legacy');
    expect(cloud.calls).toContain(`retire ${adopted.volumeId}`);
    expect(cloud.calls).not.toContain(`delete ${adopted.volumeId}`);

    const kept = cloud.add(volumeFixture('kept'));
    await service({ removePolicy: 'retain' }).remove('kept');
    expect(cloud.calls).toContain(`retire ${kept.volumeId}`);

    const saved = cloud.add(volumeFixture('saved'));
    await service({ removePolicy: 'snapshot' }).remove('saved');
    expect(cloud.calls.slice(-2)).toEqual([`snapshot ${saved.volumeId}`, `delete ${saved.volumeId}`]);
  });

  it('serves List, and Get of a listed volume, from a warm cache with no EC2 call', async () => {
    for (let i = 0; i < 50; i += 1) cloud.add(volumeFixture(`v${i}`));
    const volumes = service();
    expect(await volumes.list()).toHaveLength(50);
    const callsAfterFirst = cloud.calls.length;
    expect(await volumes.list()).toHaveLength(50);
    expect((await volumes.get('v7'))!.status).toMatchObject({ volumeType: 'gp3', sizeGiB: 16, availabilityZone: 'us-east-1a' });
    expect(cloud.calls.length).toBe(callsAfterFirst);
  });

  it('answers List with the same views while nothing changed, and with what changed as soon as it did', async () => {
    for (let i = 0; i < 5; i += 1) cloud.add(volumeFixture(`v${i}`));
    const volumes = service();
    const first = await volumes.list();
    expect(await volumes.list()).toBe(first);
    await volumes.mount('v1', 'm1', never);
    const mounted = await volumes.list();
    expect(mounted.find((volume) => volume.name === 'v1')?.mountpoint).toBe('/mnt/berth/v1/data');
    await volumes.unmount('v1', 'm1');
    await volumes.create('v9', { size: '1' });
    expect((await volumes.list()).map((volume) => volume.name)).toContain('v9');
    await volumes.remove('v9');
    expect((await volumes.list()).map((volume) => volume.name)).not.toContain('v9');
  });

  it('asks EC2 for that one name on a Get of a name the cache does not hold, never for a listing: another host may have just created it', async () => {
    for (let i = 0; i < 50; i += 1) cloud.add(volumeFixture(`v${i}`));
    const volumes = service();
    await volumes.list();
    cloud.calls.length = 0;
    cloud.add(volumeFixture('made-elsewhere'));
    expect((await volumes.get('made-elsewhere'))?.name).toBe('made-elsewhere');
    expect(await volumes.get('nope')).toBeUndefined();
    expect(cloud.calls).toEqual(['findByName made-elsewhere', 'findByName nope']);
    expect((await volumes.list()).map((volume) => volume.name)).toContain('made-elsewhere');
  });

  it('asks EC2 by name, not for a listing, on a Get of a known volume once the cache has aged', async () => {
    cloud.add(volumeFixture('aging'));
    const volumes = service({ listCacheMs: 1_000 });
    await volumes.get('aging');
    await volumes.get('aging');
    jest.advanceTimersByTime(1_500);
    expect((await volumes.get('aging'))?.name).toBe('aging');
    expect(cloud.calls).toEqual(['findByName aging', 'findByName aging']);
  });

  it('answers Get for a known volume from the persisted cache while EC2 is unreachable', async () => {
    cloud.add(volumeFixture('known'));
    const before = service({ listCacheMs: 0 });
    await before.list();
    await before.shutdown();
    cloud.failing = new Error('connect ECONNREFUSED');
    const restarted = service({ listCacheMs: 0 });
    const info = await restarted.get('known');
    expect(info?.name).toBe('known');
    expect(info?.status).toHaveProperty('stale');
    await expect(restarted.get('unknown')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('shows the volume in Get and List with its mountpoint while mounted here', async () => {
    const volumes = service();
    cloud.add(volumeFixture('shown'));
    await volumes.mount('shown', 'a', never);
    expect((await volumes.get('shown'))!.mountpoint).toBe('/mnt/berth/shown/data');
    expect(await volumes.path('shown')).toBe('/mnt/berth/shown/data');
  });
});

describe('volume service after another host took the volume', () => {
  it('drops the stale mount instead of handing it out, and refuses while the other host holds it', async () => {
    useFakeClock();
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-service-'));
    try {
      const cloud = new FakeCloud();
      const host = new FakeHost();
      const volumes = new VolumeService({
        cloud,
        host,
        logger: silentLogger(),
        config: serviceConfig(stateDir),
      });
      const volume = cloud.add(volumeFixture('moved'));
      const never = new AbortController().signal;
      await volumes.mount('moved', 'a', never);
      volume.attachments = [{ instanceId: 'i-0other00000000000', device: '/dev/xvdf', state: 'attached' }];
      await expect(advanceUntilSettled(volumes.mount('moved', 'b', never))).rejects.toThrow(/attached to instance i-0other00000000000/);
      expect(host.mounts.has('/mnt/berth/moved')).toBe(false);
      expect(await volumes.path('moved')).toBeUndefined();
      await volumes.shutdown();
    } finally {
      jest.useRealTimers();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('volume service when a detach fails', () => {
  it('answers Unmount, keeps retrying the detach in the background, and a new Mount here cancels it', async () => {
    useFakeClock();
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-service-'));
    const cloud = new FakeCloud();
    const host = new FakeHost();
    const config = serviceConfig(stateDir);
    const volumes = new VolumeService({ cloud, host, logger: silentLogger(), config });
    const never = new AbortController().signal;
    try {
      const volume = cloud.add(volumeFixture('sticky'));
      await volumes.mount('sticky', 'a', never);
      const detach = cloud.detach.bind(cloud);
      let failures = 1;
      cloud.detach = async (...args) => {
        if (failures-- > 0) throw new Error('EC2 unreachable');
        return detach(...args);
      };
      await volumes.unmount('sticky', 'a');
      expect(host.mounts.has('/mnt/berth/sticky')).toBe(false);
      expect(volume.attachments).toHaveLength(1);
      expect(fs.readFileSync(path.join(stateDir, 'pending-detaches.json'), 'utf8')).toContain(volume.volumeId);
      await jest.advanceTimersByTimeAsync(1500);
      await settledWhen(() => volume.attachments.length === 0);
      expect(volume.attachments).toEqual([]);

      await volumes.mount('sticky', 'b', never);
      failures = 1;
      await volumes.unmount('sticky', 'b');
      await volumes.mount('sticky', 'c', never);
      await jest.advanceTimersByTimeAsync(1500);
      expect(volume.attachments).toHaveLength(1);
      expect(host.mounts.has('/mnt/berth/sticky')).toBe(true);
    } finally {
      await volumes.shutdown();
      jest.useRealTimers();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('volume service when it lost track of a user', () => {
  it('never detaches a device still mounted elsewhere on the machine, and releases it at a later Unmount once it is free', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-service-'));
    const cloud = new FakeCloud();
    const host = new FakeHost();
    const config = serviceConfig(stateDir);
    const never = new AbortController().signal;
    try {
      const volume = cloud.add(volumeFixture('upgraded'));
      const volumes = new VolumeService({ cloud, host, logger: silentLogger(), config });
      // The writer's container holds the device; berth's records of it are gone (a new rootfs after an upgrade).
      await volumes.mount('upgraded', 'visitor', never);
      const device = host.mounts.get('/mnt/berth/upgraded')!;
      host.inUse.add(device);
      await volumes.unmount('upgraded', 'visitor');
      expect(volume.attachments).toHaveLength(1);
      host.inUse.delete(device);
      await volumes.unmount('upgraded', 'writer-id-berth-never-saw');
      expect(volume.attachments).toEqual([]);
      await volumes.shutdown();
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
