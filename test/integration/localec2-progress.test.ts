/**
 * local-ec2's volume modifications and snapshots over time, through the real SDK: EC2's limit on repeated
 * modifications (the previous one completed, at most four in a rolling 24 hours), Progress rising with the
 * elapsed time (modifying, then optimizing with the new size already usable; a pending snapshot's "NN%"),
 * DescribeSnapshots' filters and owners, and DeleteSnapshot while a volume is being made from the snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  type DescribeSnapshotsCommandInput,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  DetachVolumeCommand,
  type EC2Client,
  ModifyVolumeCommand,
} from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, blockDeviceSize, ec2Client, ec2Error, instanceId } from './localec2-support';
import { waitFor } from '../support/poll';

const INSTANCE = instanceId(0x51);
const ZONE = 'us-east-1a';
const GiB = 1024 ** 3;
const MODIFY_DELAY_MS = 400;
const SNAPSHOT_DELAY_MS = 1500;

describeAsRoot('local-ec2: modifications and snapshots over time', () => {
  const workspace = new Workspace();
  const clients: EC2Client[] = [];
  let quick: EC2Client;
  let slow: EC2Client;
  let slowEndpoint: LocalEc2;

  const client = (url: string) => {
    const made = ec2Client(url);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    const quickEndpoint = await workspace.start({ dataDir: workspace.dir('quick'), instances: [{ id: INSTANCE, az: ZONE }] });
    quick = client(quickEndpoint.ec2Url);
    slowEndpoint = await workspace.start({
      dataDir: workspace.dir('slow'),
      instances: [{ id: INSTANCE, az: ZONE }],
      delays: { modify: MODIFY_DELAY_MS, snapshot: SNAPSHOT_DELAY_MS, create: 800 },
    });
    slow = client(slowEndpoint.ec2Url);
  });

  afterAll(async () => {
    for (const made of clients) made.destroy();
    await workspace.teardown();
  });

  const newVolume = async (ec2: EC2Client, size = 1) => (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: size, VolumeType: 'gp3' }))).VolumeId!;
  const modify = (ec2: EC2Client, VolumeId: string, Size: number) => ec2.send(new ModifyVolumeCommand({ VolumeId, Size }));
  const latestModification = async (ec2: EC2Client, volumeId: string) =>
    (await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }))).VolumesModifications![0];

  it('allows four modifications of a volume in 24 hours; the fifth gets VolumeModificationRateExceeded', async () => {
    const volumeId = await newVolume(quick);
    for (const size of [2, 3, 4, 5]) {
      await modify(quick, volumeId, size);
      expect(await latestModification(quick, volumeId)).toMatchObject({ ModificationState: 'completed', Progress: 100, TargetSize: size });
    }
    const fifth = await ec2Error(modify(quick, volumeId, 6));
    expect(fifth).toMatchObject({ name: 'VolumeModificationRateExceeded', status: 400 });
    expect(fifth.message).toMatch(/^You've reached the maximum modification rate per volume limit\..* again after \d{4}-\d\d-\d\dT/);
    expect((await quick.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].Size).toBe(5);
    const other = await newVolume(quick);
    await modify(quick, other, 2);
  });

  it('counts a rolling 24 hours: once the oldest modification is a day old, the volume can be modified again', async () => {
    const dataDir = workspace.dir('rolling');
    let endpoint = await workspace.start({ dataDir, instances: [{ id: INSTANCE, az: ZONE }] });
    let ec2 = client(endpoint.ec2Url);
    const volumeId = await newVolume(ec2);
    for (const size of [2, 3, 4, 5]) await modify(ec2, volumeId, size);
    expect((await ec2Error(modify(ec2, volumeId, 6))).name).toBe('VolumeModificationRateExceeded');
    await endpoint.close();

    // Age the first start by a day, as if the endpoint had been stopped that long.
    const stateFile = path.join(dataDir, 'state.json');
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { volumes: Record<string, { modificationStarts: string[] }> };
    const starts = state.volumes[volumeId].modificationStarts;
    expect(starts).toHaveLength(4);
    starts[0] = new Date(Date.parse(starts[0]) - 24 * 3600 * 1000 - 1000).toISOString();
    fs.writeFileSync(stateFile, JSON.stringify(state));

    endpoint = await workspace.start({ dataDir, instances: [{ id: INSTANCE, az: ZONE }] });
    ec2 = client(endpoint.ec2Url);
    await modify(ec2, volumeId, 6);
    expect((await ec2Error(modify(ec2, volumeId, 7))).name).toBe('VolumeModificationRateExceeded');
    await endpoint.close();
  });

  it('raises Progress with the time through modifying and optimizing; the larger device is there from optimizing on', async () => {
    const volumeId = await newVolume(slow);
    await waitFor('the volume', async () => (await slow.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].State === 'available', { timeoutMs: 5000, intervalMs: 50 });
    await slow.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: INSTANCE, Device: '/dev/xvdf' }));
    const link = path.join(slowEndpoint.instances[0].devdir, 'xvdf');
    const answer = await modify(slow, volumeId, 2);
    expect(answer.VolumeModification).toMatchObject({ ModificationState: 'modifying', Progress: 0, OriginalSize: 1, TargetSize: 2 });

    const seen: { state: string; progress: number; deviceBytes: number }[] = [];
    let refusedWhileOptimizing = false;
    await waitFor('the modification to complete', async () => {
      const latest = await latestModification(slow, volumeId);
      seen.push({ state: latest.ModificationState!, progress: latest.Progress!, deviceBytes: blockDeviceSize(link) });
      if (latest.ModificationState === 'optimizing' && !refusedWhileOptimizing) {
        const refused = await ec2Error(modify(slow, volumeId, 3));
        expect(refused).toMatchObject({ name: 'IncorrectModificationState', message: `Volume ${volumeId} cannot be modified in modification state OPTIMIZING` });
        refusedWhileOptimizing = true;
      }
      return latest.ModificationState === 'completed';
    }, { timeoutMs: 10_000, intervalMs: 60 });

    const progress = seen.map((sample) => sample.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress.filter((value) => value > 0 && value < 100)).size).toBeGreaterThanOrEqual(4);
    expect(seen[seen.length - 1]).toMatchObject({ state: 'completed', progress: 100 });
    const modifying = seen.filter((sample) => sample.state === 'modifying');
    const optimizing = seen.filter((sample) => sample.state === 'optimizing');
    expect(optimizing.length).toBeGreaterThan(modifying.length);
    // The device is read just after the state: once optimizing shows, the larger device is certainly there.
    expect(modifying[0].deviceBytes).toBe(GiB);
    expect(optimizing.every((sample) => sample.deviceBytes === 2 * GiB)).toBe(true);
    expect(refusedWhileOptimizing).toBe(true);
    await slow.send(new DetachVolumeCommand({ VolumeId: volumeId }));
  }, 30_000);

  it('shows a pending snapshot\'s Progress rising with the time, then 100% once completed', async () => {
    const volumeId = await newVolume(slow);
    await waitFor('the volume', async () => (await slow.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].State === 'available', { timeoutMs: 5000, intervalMs: 50 });
    const snapshot = await slow.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    expect(snapshot).toMatchObject({ State: 'pending', Progress: '0%' });
    const seen: { state: string; progress: string }[] = [];
    await waitFor('the snapshot to complete', async () => {
      const found = (await slow.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] }))).Snapshots![0];
      seen.push({ state: found.State!, progress: found.Progress! });
      return found.State === 'completed';
    }, { timeoutMs: 10_000, intervalMs: 100 });
    expect(seen.every((sample) => /^\d{1,3}%$/.test(sample.progress))).toBe(true);
    const pending = seen.filter((sample) => sample.state === 'pending').map((sample) => Number.parseInt(sample.progress, 10));
    expect(pending).toEqual([...pending].sort((a, b) => a - b));
    expect(new Set(pending.filter((value) => value > 0)).size).toBeGreaterThanOrEqual(4);
    expect(Math.max(...pending)).toBeLessThan(100);
    expect(seen[seen.length - 1]).toEqual({ state: 'completed', progress: '100%' });
    const filtered = await slow.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'progress', Values: ['100%'] }, { Name: 'volume-id', Values: [volumeId] }] }));
    expect(filtered.Snapshots!.map((found) => found.SnapshotId)).toEqual([snapshot.SnapshotId]);
  }, 30_000);

  it('deletes a snapshot while a volume is still being made from it (EC2 does not refuse): the volume has the data', async () => {
    const source = await newVolume(slow);
    await waitFor('the volume', async () => (await slow.send(new DescribeVolumesCommand({ VolumeIds: [source] }))).Volumes![0].State === 'available', { timeoutMs: 5000, intervalMs: 50 });
    const file = path.join(slowEndpoint.dataDir, 'volumes', `${source}.img`);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, 'kept in the snapshot', 4096);
    fs.closeSync(fd);
    const { SnapshotId } = await slow.send(new CreateSnapshotCommand({ VolumeId: source }));
    await waitFor('the snapshot', async () => (await slow.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId!] }))).Snapshots![0].State === 'completed', { timeoutMs: 10_000, intervalMs: 100 });
    const restored = await slow.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, SnapshotId }));
    expect(restored.State).toBe('creating');
    await slow.send(new DeleteSnapshotCommand({ SnapshotId }));
    expect((await ec2Error(slow.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId!] })))).name).toBe('InvalidSnapshot.NotFound');
    await waitFor('the restored volume', async () => (await slow.send(new DescribeVolumesCommand({ VolumeIds: [restored.VolumeId!] }))).Volumes![0].State === 'available', { timeoutMs: 5000, intervalMs: 50 });
    const restoredFile = path.join(slowEndpoint.dataDir, 'volumes', `${restored.VolumeId}.img`);
    const buffer = Buffer.alloc(20);
    const readFd = fs.openSync(restoredFile, 'r');
    fs.readSync(readFd, buffer, 0, 20, 4096);
    fs.closeSync(readFd);
    expect(buffer.toString()).toBe('kept in the snapshot');
  }, 30_000);

  it('filters snapshots by tag:<key>, tag-key, volume-id and status, and by owner (self, the account, others)', async () => {
    const first = await newVolume(quick);
    const second = await newVolume(quick);
    const snap = async (VolumeId: string, value: string) =>
      (await quick.send(new CreateSnapshotCommand({ VolumeId, TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'batch', Value: value }, { Key: `only-${value}`, Value: '' }] }] }))).SnapshotId!;
    const a = await snap(first, 'filters-a');
    const b = await snap(second, 'filters-b');
    const ids = async (input: DescribeSnapshotsCommandInput) =>
      ((await quick.send(new DescribeSnapshotsCommand(input))).Snapshots ?? []).map((found) => found.SnapshotId).sort();
    expect(await ids({ Filters: [{ Name: 'tag:batch', Values: ['filters-a', 'filters-b'] }] })).toEqual([a, b].sort());
    expect(await ids({ Filters: [{ Name: 'tag:batch', Values: ['filters-*'] }, { Name: 'volume-id', Values: [second] }] })).toEqual([b]);
    expect(await ids({ Filters: [{ Name: 'tag-key', Values: ['only-filters-a'] }] })).toEqual([a]);
    expect(await ids({ Filters: [{ Name: 'tag:batch', Values: ['filters-a'] }, { Name: 'status', Values: ['completed'] }] })).toEqual([a]);
    expect(await ids({ Filters: [{ Name: 'tag:batch', Values: ['filters-a'] }, { Name: 'status', Values: ['pending'] }] })).toEqual([]);
    expect(await ids({ OwnerIds: ['self'], Filters: [{ Name: 'tag:batch', Values: ['filters-b'] }] })).toEqual([b]);
    expect(await ids({ OwnerIds: ['123456789012'], Filters: [{ Name: 'tag:batch', Values: ['filters-b'] }] })).toEqual([b]);
    expect(await ids({ OwnerIds: ['amazon'], Filters: [{ Name: 'tag:batch', Values: ['filters-b'] }] })).toEqual([]);
  });
});
