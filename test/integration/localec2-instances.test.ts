/**
 * local-ec2's instance states through the real SDK: StopInstances keeps EBS volumes attached (stopping -> stopped),
 * StartInstances (stopped -> pending -> running), TerminateInstances detaches the data volumes (available again,
 * loop devices and links gone), deletes the root volume and leaves the instance terminated, which cannot be started,
 * stopped or have volumes attached; DescribeInstances shows the states and codes and filters on them.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, ec2Client, ec2Error, instanceId, loopDevicesOf } from './localec2-support';
import { waitFor } from '../support/poll';

const STOPPED = instanceId(0x61);
const DOOMED = instanceId(0x62);
const BYSTANDER = instanceId(0x63);
const SLOW = instanceId(0x64);
const ZONE = 'us-east-1a';

describeAsRoot('local-ec2: instance states', () => {
  const workspace = new Workspace();
  const clients: EC2Client[] = [];
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  let dataDir: string;

  const client = (url: string) => {
    const made = ec2Client(url);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    dataDir = workspace.dir('data');
    endpoint = await workspace.start({ dataDir, instances: [{ id: STOPPED, az: ZONE }, { id: DOOMED, az: ZONE }, { id: BYSTANDER, az: ZONE }] });
    ec2 = client(endpoint.ec2Url);
  });

  afterAll(async () => {
    for (const made of clients) made.destroy();
    await workspace.teardown();
  });

  const devdir = (id: string) => endpoint.instances.find((instance) => instance.id === id)!.devdir;
  const newVolume = async (on = ec2) => (await on.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1 }))).VolumeId!;
  const attach = (VolumeId: string, InstanceId: string, Device: string, on = ec2) => on.send(new AttachVolumeCommand({ VolumeId, InstanceId, Device }));
  const instanceOf = async (id: string, on = ec2) => (await on.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0];
  const idsWhere = async (input: DescribeInstancesCommandInput) =>
    (await ec2.send(new DescribeInstancesCommand(input))).Reservations!.map((reservation) => reservation.Instances![0].InstanceId).sort();
  const volumeOf = async (volumeId: string) => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0];

  it('stops an instance with its volumes attached, and starts it again', async () => {
    const volumeId = await newVolume();
    await attach(volumeId, STOPPED, '/dev/xvdf');
    const link = path.join(devdir(STOPPED), 'xvdf');
    const loop = fs.readlinkSync(link);

    const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [STOPPED] }));
    expect(stopping.StoppingInstances).toEqual([{ InstanceId: STOPPED, CurrentState: { Code: 64, Name: 'stopping' }, PreviousState: { Code: 16, Name: 'running' } }]);
    const stopped = await instanceOf(STOPPED);
    expect(stopped.State).toEqual({ Code: 80, Name: 'stopped' });
    expect(stopped.StateTransitionReason).toMatch(/^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$/);
    expect(stopped.StateReason).toEqual({ Code: 'Client.UserInitiatedShutdown', Message: 'Client.UserInitiatedShutdown: User initiated shutdown' });
    expect(stopped.BlockDeviceMappings!.map((mapping) => mapping.Ebs!.VolumeId)).toContain(volumeId);
    expect((await volumeOf(volumeId)).Attachments).toEqual([expect.objectContaining({ InstanceId: STOPPED, State: 'attached' })]);
    expect(fs.readlinkSync(link)).toBe(loop);

    expect(await idsWhere({ Filters: [{ Name: 'instance-state-name', Values: ['stopped'] }] })).toEqual([STOPPED]);
    expect(await idsWhere({ Filters: [{ Name: 'instance-state-code', Values: ['80'] }] })).toEqual([STOPPED]);
    expect(await idsWhere({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] })).toEqual([DOOMED, BYSTANDER].sort());

    // A stopped instance takes and gives back volumes; stopping it again answers stopped -> stopped.
    const second = await newVolume();
    await attach(second, STOPPED, '/dev/xvdg');
    await ec2.send(new DetachVolumeCommand({ VolumeId: second }));
    const again = await ec2.send(new StopInstancesCommand({ InstanceIds: [STOPPED] }));
    expect(again.StoppingInstances![0]).toMatchObject({ CurrentState: { Code: 80, Name: 'stopped' }, PreviousState: { Code: 80, Name: 'stopped' } });

    const starting = await ec2.send(new StartInstancesCommand({ InstanceIds: [STOPPED] }));
    expect(starting.StartingInstances).toEqual([{ InstanceId: STOPPED, CurrentState: { Code: 0, Name: 'pending' }, PreviousState: { Code: 80, Name: 'stopped' } }]);
    const running = await instanceOf(STOPPED);
    expect(running.State).toEqual({ Code: 16, Name: 'running' });
    expect(running.StateReason).toBeUndefined();
    expect((await ec2.send(new StartInstancesCommand({ InstanceIds: [STOPPED] }))).StartingInstances![0].PreviousState).toEqual({ Code: 16, Name: 'running' });
    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
  });

  it('terminates an instance: its data volumes are detached and available, the root volume is deleted, it stays terminated', async () => {
    const volumes = [await newVolume(), await newVolume()];
    await attach(volumes[0], DOOMED, '/dev/xvdf');
    await attach(volumes[1], DOOMED, '/dev/xvdg');
    const links = ['xvdf', 'xvdg'].map((name) => path.join(devdir(DOOMED), name));
    const loops = links.map((link) => fs.readlinkSync(link));
    const before = await instanceOf(DOOMED);
    const rootVolume = before.BlockDeviceMappings!.find((mapping) => mapping.DeviceName === '/dev/xvda')!.Ebs!.VolumeId!;
    expect(before.BlockDeviceMappings!.filter((mapping) => mapping.DeviceName !== '/dev/xvda').map((mapping) => mapping.Ebs!.DeleteOnTermination)).toEqual([false, false]);

    const terminating = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [DOOMED] }));
    expect(terminating.TerminatingInstances).toEqual([{ InstanceId: DOOMED, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } }]);
    const terminated = await instanceOf(DOOMED);
    expect(terminated.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(terminated.BlockDeviceMappings).toEqual([]);
    for (const volumeId of volumes) expect(await volumeOf(volumeId)).toMatchObject({ State: 'available', Attachments: [] });
    for (const link of links) expect(fs.existsSync(link)).toBe(false);
    for (const loop of loops) expect(loopDevicesOf(dataDir)).not.toContain(loop);
    expect((await ec2Error(volumeOf(rootVolume))).name).toBe('InvalidVolume.NotFound');
    expect(await idsWhere({ Filters: [{ Name: 'instance-state-name', Values: ['terminated'] }] })).toEqual([DOOMED]);
    expect(await idsWhere({ Filters: [{ Name: 'instance-state-code', Values: ['48'] }] })).toEqual([DOOMED]);

    // Terminated for good: no start, no stop, no volumes; terminating again answers terminated -> terminated.
    expect(await ec2Error(ec2.send(new StartInstancesCommand({ InstanceIds: [DOOMED] })))).toMatchObject({
      name: 'IncorrectInstanceState',
      message: `The instance '${DOOMED}' is not in a state from which it can be started.`,
      status: 400,
    });
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [DOOMED] })))).toMatchObject({
      name: 'IncorrectInstanceState',
      message: `This instance '${DOOMED}' is not in a state from which it can be stopped.`,
    });
    expect((await ec2Error(attach(volumes[0], DOOMED, '/dev/xvdh'))).name).toBe('IncorrectInstanceState');
    const again = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [DOOMED] }));
    expect(again.TerminatingInstances![0]).toMatchObject({ CurrentState: { Code: 48, Name: 'terminated' }, PreviousState: { Code: 48, Name: 'terminated' } });
    // Nothing runs there, so its metadata service may keep answering.
    const imds = endpoint.instances.find((instance) => instance.id === DOOMED)!.imds;
    expect(await (await fetch(`${imds}/latest/meta-data/instance-id`)).text()).toBe(DOOMED);
  });

  it('changes no instance when one of those named is unknown, and none with DryRun', async () => {
    expect((await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [BYSTANDER, instanceId(0x6f)] })))).name).toBe('InvalidInstanceID.NotFound');
    expect((await ec2Error(ec2.send(new TerminateInstancesCommand({ InstanceIds: [BYSTANDER, 'i-bad'] })))).name).toBe('InvalidInstanceID.Malformed');
    expect(await ec2Error(ec2.send(new TerminateInstancesCommand({ InstanceIds: [BYSTANDER], DryRun: true })))).toMatchObject({ name: 'DryRunOperation', status: 412 });
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [BYSTANDER], DryRun: true })))).toMatchObject({ name: 'DryRunOperation', status: 412 });
    expect((await instanceOf(BYSTANDER)).State).toEqual({ Code: 16, Name: 'running' });
  });

  it('with an instance delay: stopping, during which it can be neither started nor given a volume, then stopped; a restart finishes a stop', async () => {
    const slowDir = workspace.dir('slow');
    let slow = await workspace.start({ dataDir: slowDir, instances: [{ id: SLOW, az: ZONE }], delays: { instance: 400 } });
    let slowEc2 = client(slow.ec2Url);
    await slowEc2.send(new StopInstancesCommand({ InstanceIds: [SLOW] }));
    expect((await instanceOf(SLOW, slowEc2)).State!.Name).toBe('stopping');
    expect((await ec2Error(slowEc2.send(new StartInstancesCommand({ InstanceIds: [SLOW] })))).name).toBe('IncorrectInstanceState');
    expect((await ec2Error(attach(await newVolume(slowEc2), SLOW, '/dev/xvdf', slowEc2))).name).toBe('IncorrectInstanceState');
    await waitFor('stopped', async () => (await instanceOf(SLOW, slowEc2)).State!.Name === 'stopped', { timeoutMs: 5000, intervalMs: 50 });
    await slowEc2.send(new StartInstancesCommand({ InstanceIds: [SLOW] }));
    expect((await instanceOf(SLOW, slowEc2)).State).toEqual({ Code: 0, Name: 'pending' });
    await waitFor('running', async () => (await instanceOf(SLOW, slowEc2)).State!.Name === 'running', { timeoutMs: 5000, intervalMs: 50 });
    await slow.close();

    slow = await workspace.start({ dataDir: slowDir, instances: [{ id: SLOW, az: ZONE }], delays: { instance: 60_000 } });
    slowEc2 = client(slow.ec2Url);
    await slowEc2.send(new StopInstancesCommand({ InstanceIds: [SLOW] }));
    await slow.close();
    slow = await workspace.start({ dataDir: slowDir, instances: [{ id: SLOW, az: ZONE }] });
    slowEc2 = client(slow.ec2Url);
    expect((await instanceOf(SLOW, slowEc2)).State!.Name).toBe('stopped');
    await slow.close();
  });
});
