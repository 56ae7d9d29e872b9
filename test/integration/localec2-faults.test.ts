/**
 * local-ec2 fault injection (throttling, 5xx before and after the effect, latency, stuck attachments,
 * devices that never appear) and the admin routes (call log, reset), seen through the real SDK.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { CallEntry } from '../../src/localec2/call-log';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, adminJson, ec2Client, ec2Error, instanceId, loopDevicesOf } from './localec2-support';

const INSTANCE = instanceId(0x31);

describeAsRoot('local-ec2: faults and admin routes', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = workspace.dir('data');
    endpoint = await workspace.start({ dataDir, instances: [{ id: INSTANCE, az: 'us-east-1a' }] });
    ec2 = ec2Client(endpoint.ec2Url);
  });

  afterEach(async () => {
    await adminJson(endpoint.ec2Url, '/_berth/reset', {});
  });

  afterAll(async () => {
    ec2?.destroy();
    await workspace.teardown();
  });

  const faults = (spec: unknown) => adminJson(endpoint.ec2Url, '/_berth/faults', spec);
  const calls = (since?: number) => adminJson<CallEntry[]>(endpoint.ec2Url, `/_berth/calls${since === undefined ? '' : `?since=${since}`}`);
  const newVolume = async (tag?: string) =>
    (
      await ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: 'us-east-1a',
          Size: 1,
          TagSpecifications: tag ? [{ ResourceType: 'volume', Tags: [{ Key: 'case', Value: tag }] }] : undefined,
        }),
      )
    ).VolumeId!;
  const attachmentOf = async (volumeId: string) => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].Attachments![0];

  it('throttles every Nth matching call with RequestLimitExceeded (HTTP 503), leaving other actions alone', async () => {
    await faults({ throttle: { everyNth: 2, actions: ['DescribeVolumes'] } });
    await ec2.send(new DescribeVolumesCommand({}));
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' });
    await ec2.send(new DescribeVolumesCommand({}));
    await newVolume();
    await newVolume();
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'RequestLimitExceeded' });
    const log = await calls();
    expect(log.map((entry) => entry.result)).toEqual(['ok', 'RequestLimitExceeded', 'ok', 'ok', 'ok', 'RequestLimitExceeded']);
  });

  it('a throttled call succeeds on the SDK\'s retry', async () => {
    await faults({ throttle: { count: 1 } });
    const retrying = ec2Client(endpoint.ec2Url, { maxAttempts: 3 });
    try {
      const answer = await retrying.send(new DescribeVolumesCommand({}));
      expect(answer.$metadata.attempts).toBe(2);
    } finally {
      retrying.destroy();
    }
  });

  it('throttles a percentage of calls', async () => {
    await faults({ throttle: { percent: 100 } });
    expect((await ec2Error(ec2.send(new DescribeVolumesCommand({})))).name).toBe('RequestLimitExceeded');
    await faults({ throttle: { percent: 0 } });
    await ec2.send(new DescribeVolumesCommand({}));
  });

  it('answers InternalError (500) or Unavailable (503)', async () => {
    await faults({ serverError: { count: 1 } });
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'InternalError', status: 500 });
    await ec2.send(new DescribeVolumesCommand({}));
    await faults({ serverError: { code: 'Unavailable', actions: ['CreateVolume'] } });
    expect(await ec2Error(newVolume())).toMatchObject({ name: 'Unavailable', status: 503 });
  });

  it('loses the answer after the effect: the SDK retries with its ClientToken and gets the one volume', async () => {
    await faults({ serverError: { count: 1, afterEffect: true, actions: ['CreateVolume'] } });
    const retrying = ec2Client(endpoint.ec2Url, { maxAttempts: 3 });
    try {
      const created = await retrying.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1, TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'case', Value: 'after-effect' }] }] }));
      expect(created.$metadata.attempts).toBe(2);
      const tagged = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:case', Values: ['after-effect'] }] }));
      expect(tagged.Volumes!.map((volume) => volume.VolumeId)).toEqual([created.VolumeId]);
      expect((await calls()).filter((entry) => entry.action === 'CreateVolume').map((entry) => entry.result)).toEqual(['InternalError', 'ok']);
    } finally {
      retrying.destroy();
    }
  });

  it('adds latency per action', async () => {
    await faults({ latencyMs: { DescribeVolumes: 400 } });
    let started = Date.now();
    await ec2.send(new DescribeVolumesCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    started = Date.now();
    await newVolume();
    expect(Date.now() - started).toBeLessThan(390);
    const entry = (await calls()).find((call) => call.action === 'DescribeVolumes')!;
    expect(entry.durationMs).toBeGreaterThanOrEqual(390);
  });

  it('shows a call under way, from its arrival until it is answered', async () => {
    await faults({ latencyMs: { DescribeVolumes: 400 } });
    const answered = ec2.send(new DescribeVolumesCommand({ VolumeIds: [await newVolume()] }));
    const deadline = Date.now() + 2000;
    let inflight: Array<{ action: string; volumeId?: string }> = [];
    while (inflight.length === 0 && Date.now() < deadline) inflight = await adminJson(endpoint.ec2Url, '/_berth/inflight');
    expect(inflight).toEqual([expect.objectContaining({ action: 'DescribeVolumes', volumeId: expect.stringMatching(/^vol-/) })]);
    expect((await calls()).filter((call) => call.action === 'DescribeVolumes')).toEqual([]);
    await answered;
    expect(await adminJson(endpoint.ec2Url, '/_berth/inflight')).toEqual([]);
  });

  it('keeps a chosen attachment in "attaching" until it is detached', async () => {
    const stuck = await newVolume();
    const fine = await newVolume();
    await faults({ stuckAttaching: [stuck] });
    await ec2.send(new AttachVolumeCommand({ VolumeId: stuck, InstanceId: INSTANCE, Device: '/dev/xvdf' }));
    await ec2.send(new AttachVolumeCommand({ VolumeId: fine, InstanceId: INSTANCE, Device: '/dev/xvdg' }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await attachmentOf(stuck)).State).toBe('attaching');
    expect((await attachmentOf(fine)).State).toBe('attached');
    expect(fs.existsSync(path.join(endpoint.instances[0].devdir, 'xvdf'))).toBe(false);
    await ec2.send(new DetachVolumeCommand({ VolumeId: stuck, Force: true }));
    expect(await attachmentOf(stuck)).toBeUndefined();
    await ec2.send(new DetachVolumeCommand({ VolumeId: fine }));
  });

  it('attaches without a device when the device never appears', async () => {
    await faults({ missingDevice: true });
    const volumeId = await newVolume();
    const loopsBefore = loopDevicesOf(dataDir).length;
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: INSTANCE, Device: '/dev/xvdh' }));
    expect((await attachmentOf(volumeId)).State).toBe('attached');
    expect(fs.existsSync(path.join(endpoint.instances[0].devdir, 'xvdh'))).toBe(false);
    expect(loopDevicesOf(dataDir).length).toBe(loopsBefore);
    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
    expect(await attachmentOf(volumeId)).toBeUndefined();
  });

  it('logs calls with action, ids, result, time and duration; ?since= gives the newer ones; reset clears log and faults', async () => {
    const volumeId = await newVolume('log');
    await ec2Error(ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId(0x99), Device: '/dev/xvdf' })));
    const log = await calls();
    const [create, attach] = log.slice(-2);
    expect(create).toMatchObject({ action: 'CreateVolume', result: 'ok' });
    expect(attach).toMatchObject({ action: 'AttachVolume', volumeId, instanceId: instanceId(0x99), result: 'InvalidInstanceID.NotFound' });
    expect(Date.parse(attach.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(attach.durationMs).toBeGreaterThanOrEqual(0);
    expect(await calls(create.seq)).toEqual([attach]);

    await faults({ throttle: {} });
    expect((await adminJson<{ faults: unknown }>(endpoint.ec2Url, '/_berth/faults')).faults).toEqual({ throttle: {} });
    await adminJson(endpoint.ec2Url, '/_berth/reset', {});
    expect(await calls()).toEqual([]);
    await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  });

  it('refuses a malformed fault set with 400 and a reason', async () => {
    const response = await fetch(`${endpoint.ec2Url}/_berth/faults`, { method: 'POST', body: JSON.stringify({ throttle: { percent: 150 } }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/throttle.percent/);
    const unknown = await fetch(`${endpoint.ec2Url}/_berth/faults`, { method: 'POST', body: JSON.stringify({ earthquake: true }) });
    expect(unknown.status).toBe(400);
  });

  it('shows its state at GET /_berth/state, with loop devices and links of attachments', async () => {
    const volumeId = await newVolume();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: INSTANCE, Device: '/dev/xvdi' }));
    const state = await adminJson<{ volumes: { id: string; attachment?: { loopDevice?: string; link?: string } }[]; instances: { id: string; imds: string }[] }>(endpoint.ec2Url, '/_berth/state');
    const volume = state.volumes.find((v) => v.id === volumeId)!;
    expect(volume.attachment?.loopDevice).toMatch(/^\/dev\/loop\d+$/);
    expect(volume.attachment?.link).toBe(path.join(endpoint.instances[0].devdir, 'xvdi'));
    expect(state.instances[0]).toMatchObject({ id: INSTANCE, imds: endpoint.instances[0].imds });
    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
  });
});
