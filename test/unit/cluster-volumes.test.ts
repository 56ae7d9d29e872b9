/** Swarm cluster volumes in the volume service: the controller side attaches to the task's node, the node side stages and publishes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import type { ServiceConfig } from '../../src/volumes/deps';
import { VolumeService } from '../../src/volumes/service';
import { FakeCloud, FakeHost, HERE, serviceConfig, volumeFixture } from '../support/fakes';

const NODE = 'i-0a0de000000000001';
const OTHER_NODE = 'i-0a0de000000000002';

describe('cluster volumes', () => {
  let stateDir: string;
  let cloud: FakeCloud;
  let host: FakeHost;
  let service: VolumeService;
  const never = new AbortController().signal;
  const start = (overrides: Partial<ServiceConfig> = {}) => {
    service = new VolumeService({ cloud, host, config: serviceConfig(stateDir, overrides), logger: silentLogger() });
    return service.cluster;
  };

  beforeEach(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cluster-'));
    cloud = new FakeCloud();
    host = new FakeHost();
  });
  afterEach(async () => {
    await service?.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates with berth\'s options and their validation, and answers the same volume for the same name', async () => {
    const cluster = start();
    await expect(cluster.createVolume('db', { size: 'huge' })).rejects.toMatchObject({ code: 'invalid-option', message: expect.stringMatching(/size/) });
    const made = await cluster.createVolume('db', { size: '20' });
    expect(made).toMatchObject({ name: 'db', sizeGiB: 20, availabilityZone: HERE.availabilityZone, attachedTo: [] });
    expect((await cluster.createVolume('db', { size: '20' })).volumeId).toBe(made.volumeId);
  });

  describe('controller side', () => {
    it('attaches to the node named by the request, never to the controller\'s own instance, once', async () => {
      const cluster = start();
      const volume = cloud.add(volumeFixture('db'));
      expect(await cluster.publishToNode('db', NODE, never)).toEqual({ volumeId: volume.volumeId, device: '/dev/xvdf' });
      expect(cloud.calls).toContain(`attachTo ${volume.volumeId} ${NODE}`);
      expect(cloud.calls.filter((call) => call.startsWith('attach '))).toEqual([]);
      expect(await cluster.publishToNode('db', NODE, never)).toEqual({ volumeId: volume.volumeId, device: '/dev/xvdf' });
      expect(cloud.count('attachTo')).toBe(1);
      await cluster.unpublishFromNode('db', NODE, never);
      expect(cloud.calls).toContain(`detach ${volume.volumeId} ${NODE}`);
      await cluster.unpublishFromNode('db', NODE, never);
      expect(cloud.count('detach')).toBe(1);
    });

    it('refuses a volume another node holds, naming it; with preemption takes it over', async () => {
      const volume = cloud.add(volumeFixture('db', { state: 'in-use', attachments: [{ instanceId: OTHER_NODE, device: '/dev/xvdg', state: 'attached' }] }));
      await expect(start().publishToNode('db', NODE, never)).rejects.toMatchObject({ code: 'attached-elsewhere', message: expect.stringContaining(OTHER_NODE) });
      await service.shutdown();
      await start({ preempt: true }).publishToNode('db', NODE, never);
      expect(cloud.calls).toContain(`detach ${volume.volumeId} ${OTHER_NODE} force`);
      expect(cloud.volumes.get(volume.volumeId)!.attachments.map((attachment) => attachment.instanceId)).toEqual([NODE]);
    });

    it('a task in another zone: refused naming both zones and how to pin the service, or moved with crossAZ=snapshot', async () => {
      cloud.instanceZones.set(NODE, 'us-east-1b');
      cloud.add(volumeFixture('pinned'));
      const cluster = start();
      await expect(cluster.publishToNode('pinned', NODE, never)).rejects.toMatchObject({
        code: 'zone-mismatch',
        message: expect.stringMatching(/us-east-1a.*us-east-1b.*--constraint node\.labels\.zone==us-east-1a/),
      });
      const nomad = cloud.add(volumeFixture('nomad', { crossAZ: 'snapshot' }));
      await cluster.publishToNode('nomad', NODE, never);
      expect(cloud.calls).toContain(`moveToZone ${nomad.volumeId} us-east-1b`);
      const moved = cloud.byName('nomad')!;
      expect(moved.availabilityZone).toBe('us-east-1b');
      expect(moved.attachments.map((attachment) => attachment.instanceId)).toEqual([NODE]);
    });

    it('asks EC2 for a node\'s zone once, not at each publish Swarm retries', async () => {
      cloud.add(volumeFixture('db', { state: 'in-use', attachments: [{ instanceId: OTHER_NODE, device: '/dev/xvdg', state: 'attached' }] }));
      const cluster = start();
      for (let retry = 0; retry < 3; retry++) await expect(cluster.publishToNode('db', NODE, never)).rejects.toMatchObject({ code: 'attached-elsewhere' });
      expect(cloud.count(`describeInstance ${NODE}`)).toBe(1);
    });

    it('refuses a node id that is no instance id, and an instance that is gone', async () => {
      cloud.add(volumeFixture('db'));
      const cluster = start();
      await expect(cluster.publishToNode('db', 'node-7', never)).rejects.toMatchObject({ code: 'invalid-option' });
      cloud.instanceStates.set(NODE, 'terminated');
      await expect(cluster.publishToNode('db', NODE, never)).rejects.toMatchObject({ code: 'not-found', message: expect.stringMatching(/terminated/) });
      expect(cloud.count('attachTo')).toBe(0);
    });
  });

  describe('node side', () => {
    const staging = '/data/staged/sw1';
    const target = '/data/published/sw1';

    it('stages (format once), publishes the data directory, and the last unpublish unstages', async () => {
      const cluster = start();
      const volume = cloud.add(volumeFixture('db'));
      const context = { volumeId: volume.volumeId, device: '/dev/xvdf' };
      await cluster.stage('db', context, staging, never);
      const device = `/dev/fake-${volume.volumeId}`;
      expect(host.calls).toEqual(expect.arrayContaining([`format ${device} ext4`, `mount ${device} ${staging}`, `prepareDataDir ${staging}/data 755`]));
      await cluster.stage('db', context, staging, never);
      expect(host.calls.filter((call) => call.startsWith('format'))).toHaveLength(1);

      await cluster.publish('db', staging, target, false);
      expect(host.binds.get(target)).toBe(`${staging}/data`);
      await cluster.unpublish('db', target);
      expect(host.binds.has(target)).toBe(false);
      expect(host.mounts.has(staging)).toBe(false);
    });

    it('keeps the staging while another publish of the volume remains', async () => {
      const cluster = start();
      const volume = cloud.add(volumeFixture('db'));
      await cluster.stage('db', { volumeId: volume.volumeId, device: '/dev/xvdf' }, staging, never);
      await cluster.publish('db', staging, target, false);
      await cluster.publish('db', staging, `${target}-2`, true);
      expect(host.calls).toContain(`bindMount ${staging}/data ${target}-2 ro`);
      await cluster.unpublish('db', target);
      expect(host.mounts.has(staging)).toBe(true);
      await cluster.unpublish('db', `${target}-2`);
      expect(host.mounts.has(staging)).toBe(false);
    });

    it('refuses a stage whose published volume id is not the volume\'s (it moved), and a publish that was never staged', async () => {
      const cluster = start();
      cloud.add(volumeFixture('db'));
      await expect(cluster.stage('db', { volumeId: 'vol-00000000000000bad', device: '/dev/xvdf' }, staging, never)).rejects.toMatchObject({ code: 'in-use' });
      await expect(cluster.stage('db', {}, staging, never)).rejects.toMatchObject({ code: 'invalid-option', message: expect.stringMatching(/volumeId/) });
      await expect(cluster.publish('db', staging, target, false)).rejects.toMatchObject({ code: 'not-found' });
      expect(host.calls.filter((call) => call.startsWith('format') || call.startsWith('mount'))).toEqual([]);
    });

    it('reports this instance as the node, with its zone', () => {
      expect(start().node()).toEqual({ nodeId: HERE.instanceId, availabilityZone: HERE.availabilityZone, maxVolumes: 26 });
    });
  });
});
