/**
 * local-ec2 attachments through the real SDK: the device link appears and is a real block device,
 * attach/detach rules (device in use, zone, limits, states), forced detach fencing a mounted filesystem
 * in another mount namespace, the busy state, Nitro by-id links, DescribeInstances and growing devices.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  ModifyVolumeCommand,
} from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, blockDeviceSize, ec2Client, ec2Error, instanceId, loopDevicesOf } from './localec2-support';
import { waitFor } from '../support/poll';

const XVD = instanceId(0x11);
const NITRO = instanceId(0x12);
const OTHER_ZONE = instanceId(0x13);
const SMALL = instanceId(0x14);
const GiB = 1024 ** 3;

describeAsRoot('local-ec2: attachments and devices', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  let dataDir: string;
  const devdir = (id: string) => endpoint.instances.find((instance) => instance.id === id)!.devdir;
  const holders: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    dataDir = workspace.dir('data');
    endpoint = await workspace.start({
      dataDir,
      instances: [
        { id: XVD, az: 'us-east-1a' },
        { id: NITRO, az: 'us-east-1a', devices: 'nitro', devdir: workspace.dir('nitro-dev') },
        { id: OTHER_ZONE, az: 'us-east-1b' },
        { id: SMALL, az: 'us-east-1a', maxVolumes: 2 },
      ],
    });
    ec2 = ec2Client(endpoint.ec2Url);
  });

  afterAll(async () => {
    for (const holder of holders) holder.kill('SIGKILL');
    ec2?.destroy();
    await workspace.teardown();
  });

  const newVolume = async (zone = 'us-east-1a', size = 1) => (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: size, VolumeType: 'gp3' }))).VolumeId!;
  const volumeOf = async (volumeId: string) => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0];
  const attach = (VolumeId: string, InstanceId: string, Device: string) => ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId, Device }));
  const detach = (VolumeId: string, extra: { InstanceId?: string; Force?: boolean } = {}) => ec2.send(new DetachVolumeCommand({ VolumeId, ...extra }));

  it('attaches: the link appears, is a real block device that takes a filesystem, and detaching removes it', async () => {
    const volumeId = await newVolume();
    const answer = await attach(volumeId, XVD, '/dev/sdf');
    expect(answer).toMatchObject({ State: 'attaching', Device: '/dev/sdf', InstanceId: XVD, VolumeId: volumeId });
    const volume = await volumeOf(volumeId);
    expect(volume.State).toBe('in-use');
    expect(volume.Attachments).toEqual([expect.objectContaining({ State: 'attached', InstanceId: XVD, Device: '/dev/sdf' })]);

    const link = path.join(devdir(XVD), 'xvdf');
    const loop = fs.readlinkSync(link);
    expect(loop).toMatch(/^\/dev\/loop\d+$/);
    expect(fs.statSync(link).isBlockDevice()).toBe(true);
    expect(fs.readFileSync(`/sys/block/${path.basename(loop)}/loop/backing_file`, 'utf8').trim()).toBe(`${fs.realpathSync(dataDir)}/volumes/${volumeId}.img`);
    expect(blockDeviceSize(link)).toBe(GiB);

    execFileSync('mkfs.ext4', ['-q', '-F', link]);
    const mountPoint = workspace.mount(link, 'mnt-basic');
    fs.writeFileSync(path.join(mountPoint, 'hello'), 'world');
    workspace.unmount(mountPoint);

    expect(await detach(volumeId)).toMatchObject({ State: 'detaching', InstanceId: XVD });
    expect((await volumeOf(volumeId)).State).toBe('available');
    expect(fs.existsSync(link)).toBe(false);
    expect(loopDevicesOf(dataDir)).not.toContain(loop);
    expect(execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', `${dataDir}/volumes/${volumeId}.img`], { encoding: 'utf8' }).trim()).toBe('ext4');
  });

  it('shows attachments in DescribeInstances (with the root volume) and in the metadata block-device-mapping', async () => {
    const volumeId = await newVolume();
    await attach(volumeId, XVD, '/dev/xvdg');
    const reservations = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [XVD] }))).Reservations!;
    const instance = reservations[0].Instances![0];
    expect(instance).toMatchObject({ InstanceId: XVD, InstanceType: 'm5.large', State: { Name: 'running', Code: 16 }, Placement: { AvailabilityZone: 'us-east-1a' }, RootDeviceName: '/dev/xvda' });
    const mappings = instance.BlockDeviceMappings!;
    expect(mappings.map((mapping) => mapping.DeviceName)).toEqual(['/dev/xvda', '/dev/xvdg']);
    expect(mappings[1].Ebs).toMatchObject({ VolumeId: volumeId, Status: 'attached', DeleteOnTermination: false });
    expect(mappings[1].Ebs!.AttachTime).toBeInstanceOf(Date);
    const byVolume = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'block-device-mapping.volume-id', Values: [volumeId] }] }));
    expect(byVolume.Reservations!.map((r) => r.Instances![0].InstanceId)).toEqual([XVD]);
    const filtered = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [XVD] }, { Name: 'attachment.device', Values: ['/dev/xvdg'] }] }));
    expect(filtered.Volumes!.map((v) => v.VolumeId)).toEqual([volumeId]);

    const imds = endpoint.instances.find((i) => i.id === XVD)!.imds;
    const listing = await (await fetch(`${imds}/latest/meta-data/block-device-mapping/`)).text();
    expect(listing.split('\n')).toEqual(expect.arrayContaining(['ami', 'root', 'ebs1']));
    expect(await (await fetch(`${imds}/latest/meta-data/block-device-mapping/ebs1`)).text()).toBe('xvdg');
    await detach(volumeId, { InstanceId: XVD });
  });

  it('makes the NVMe by-id link on a Nitro instance, and no xvd link', async () => {
    const volumeId = await newVolume();
    await attach(volumeId, NITRO, '/dev/xvdba');
    const link = path.join(devdir(NITRO), 'disk', 'by-id', `nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`);
    expect(fs.readlinkSync(link)).toMatch(/^\/dev\/loop\d+$/);
    expect(fs.existsSync(path.join(devdir(NITRO), 'xvdba'))).toBe(false);
    await detach(volumeId);
    expect(fs.existsSync(link)).toBe(false);
  });

  it('refuses a volume attached elsewhere, a used device name, another zone, a bad device name and an unknown instance', async () => {
    const first = await newVolume();
    const second = await newVolume();
    await attach(first, XVD, '/dev/xvdh');
    expect(await ec2Error(attach(first, NITRO, '/dev/xvdh'))).toMatchObject({ name: 'VolumeInUse' });
    expect(await ec2Error(attach(first, XVD, '/dev/xvdi'))).toMatchObject({ name: 'VolumeInUse' });
    expect(await ec2Error(attach(second, XVD, '/dev/xvdh'))).toMatchObject({
      name: 'InvalidParameterValue',
      message: "Invalid value '/dev/xvdh' for unixDevice. Attachment point /dev/xvdh is already in use",
    });
    expect((await ec2Error(attach(second, XVD, '/dev/sdh'))).name).toBe('InvalidParameterValue');
    expect((await ec2Error(attach(second, XVD, '/dev/xvda'))).name).toBe('InvalidParameterValue');
    expect((await ec2Error(attach(second, XVD, '/dev/nvme1n1'))).message).toMatch(/not a valid EBS device name/);
    expect((await ec2Error(attach(second, OTHER_ZONE, '/dev/xvdf'))).name).toBe('InvalidVolume.ZoneMismatch');
    expect((await ec2Error(attach(second, instanceId(0x99), '/dev/xvdf'))).name).toBe('InvalidInstanceID.NotFound');
    expect((await ec2Error(attach(second, 'i-nope', '/dev/xvdf'))).name).toBe('InvalidInstanceID.Malformed');
    expect((await ec2Error(attach('vol-0123456789abcdef0', XVD, '/dev/xvdf'))).name).toBe('InvalidVolume.NotFound');
    expect((await ec2Error(ec2.send(new DeleteVolumeCommand({ VolumeId: first }))))).toMatchObject({ name: 'VolumeInUse' });
    await detach(first);
    await ec2.send(new DeleteVolumeCommand({ VolumeId: first }));
  });

  it('enforces the attachment limit (maxvolumes=2 here)', async () => {
    const volumes = [await newVolume(), await newVolume(), await newVolume()];
    await attach(volumes[0], SMALL, '/dev/xvdf');
    await attach(volumes[1], SMALL, '/dev/xvdg');
    expect((await ec2Error(attach(volumes[2], SMALL, '/dev/xvdh'))).name).toBe('AttachmentLimitExceeded');
    await detach(volumes[0]);
    await attach(volumes[2], SMALL, '/dev/xvdh');
    await detach(volumes[1]);
    await detach(volumes[2]);
  });

  it('detaches without InstanceId from whoever holds it; refuses the wrong instance, an available volume and the root volume', async () => {
    const volumeId = await newVolume();
    expect((await ec2Error(detach(volumeId))).name).toBe('IncorrectState');
    await attach(volumeId, NITRO, '/dev/xvdc');
    expect((await ec2Error(detach(volumeId, { InstanceId: XVD }))).name).toBe('InvalidAttachment.NotFound');
    expect(await detach(volumeId)).toMatchObject({ InstanceId: NITRO, State: 'detaching' });
    expect((await volumeOf(volumeId)).Attachments).toEqual([]);
    const root = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [XVD] }))).Reservations![0].Instances![0].BlockDeviceMappings![0].Ebs!.VolumeId!;
    expect((await ec2Error(detach(root))).name).toBe('OperationNotPermitted');
    expect((await ec2Error(ec2.send(new DeleteVolumeCommand({ VolumeId: root })))).name).toBe('VolumeInUse');
  });

  it('grows an attached device when the volume is modified', async () => {
    const volumeId = await newVolume('us-east-1a', 1);
    await attach(volumeId, XVD, '/dev/xvdj');
    const link = path.join(devdir(XVD), 'xvdj');
    expect(blockDeviceSize(link)).toBe(GiB);
    await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 3 }));
    expect(blockDeviceSize(link)).toBe(3 * GiB);
    await detach(volumeId);
  });

  it('forced detach shuts down a filesystem mounted in another mount namespace: its writes fail', async () => {
    const volumeId = await newVolume();
    await attach(volumeId, XVD, '/dev/xvdk');
    const link = path.join(devdir(XVD), 'xvdk');
    const loop = fs.readlinkSync(link);
    execFileSync('mkfs.ext4', ['-q', '-F', link]);
    const mountPoint = workspace.dir('mnt-other-namespace');
    // The "old host": a process in its own mount namespace with the volume mounted and a file open.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount "$0" "$1" && echo mounted && exec sleep 60', loop, mountPoint]);
    holders.push(holder);
    await waitFor('the mount in the other namespace', () => new Promise<boolean | undefined>((resolve) => {
      holder.stdout.once('data', (data: Buffer) => resolve(data.toString().includes('mounted') || undefined));
      setTimeout(() => resolve(undefined), 2000);
    }), { timeoutMs: 5000, intervalMs: 50 });
    const seenFromHere = path.join(`/proc/${holder.pid}/root`, mountPoint);
    fs.writeFileSync(path.join(seenFromHere, 'before'), 'ok');
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mountPoint);

    expect(await detach(volumeId, { Force: true })).toMatchObject({ State: 'detaching' });
    expect((await volumeOf(volumeId)).State).toBe('available');
    expect(fs.existsSync(link)).toBe(false);
    expect(() => fs.writeFileSync(path.join(seenFromHere, 'after'), 'lost')).toThrow(/EIO|input\/output/i);

    holder.kill('SIGKILL');
    await waitFor('the old host to exit', () => (holder.exitCode !== null || holder.signalCode !== null ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    await waitFor('the loop device to be released', () => (loopDevicesOf(dataDir).includes(loop) ? undefined : true), { timeoutMs: 10_000, intervalMs: 50 });
  });

  it('a plain detach of a mounted device stays busy until it is unmounted', async () => {
    const volumeId = await newVolume();
    await attach(volumeId, XVD, '/dev/xvdl');
    const link = path.join(devdir(XVD), 'xvdl');
    execFileSync('mkfs.ext4', ['-q', '-F', link]);
    const mountPoint = workspace.mount(link, 'mnt-busy');
    await detach(volumeId);
    const attachmentState = async () => (await volumeOf(volumeId)).Attachments![0]?.State ?? 'none';
    expect(await attachmentState()).toBe('busy');
    expect((await volumeOf(volumeId)).State).toBe('in-use');
    fs.writeFileSync(path.join(mountPoint, 'still-works'), 'yes');
    workspace.unmount(mountPoint);
    await waitFor('the detach to finish', async () => ((await attachmentState()) === 'none' ? true : undefined), { timeoutMs: 5000, intervalMs: 50 });
    expect(fs.existsSync(link)).toBe(false);
  });

  it('refuses to attach a volume that is still creating', async () => {
    const slowDir = workspace.dir('slow-create');
    const slow = await workspace.start({ dataDir: slowDir, delays: { create: 5000 }, instances: [{ id: XVD }] });
    const client = ec2Client(slow.ec2Url);
    try {
      const volume = await client.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
      expect((await ec2Error(client.send(new AttachVolumeCommand({ VolumeId: volume.VolumeId, InstanceId: XVD, Device: '/dev/xvdf' })))).name).toBe('IncorrectState');
      expect((await ec2Error(client.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId })))).name).toBe('IncorrectState');
    } finally {
      client.destroy();
      await slow.close();
    }
  });

  it('with an attach delay: attaching, no link yet, then attached with the link', async () => {
    const slowDir = workspace.dir('slow-attach');
    const slow = await workspace.start({ dataDir: slowDir, delays: { attach: 400, detach: 300 }, instances: [{ id: XVD }] });
    const client = ec2Client(slow.ec2Url);
    try {
      const { VolumeId } = await client.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
      await client.send(new AttachVolumeCommand({ VolumeId, InstanceId: XVD, Device: '/dev/xvdf' }));
      const state = async () => (await client.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] }))).Volumes![0].Attachments![0]?.State ?? 'none';
      const link = path.join(slow.instances[0].devdir, 'xvdf');
      expect(await state()).toBe('attaching');
      expect(fs.existsSync(link)).toBe(false);
      await waitFor('attached', async () => ((await state()) === 'attached' ? true : undefined), { timeoutMs: 3000, intervalMs: 50 });
      expect(fs.statSync(link).isBlockDevice()).toBe(true);
      await client.send(new DetachVolumeCommand({ VolumeId }));
      expect(await state()).toBe('detaching');
      await waitFor('detached', async () => ((await state()) === 'none' ? true : undefined), { timeoutMs: 3000, intervalMs: 50 });
      expect(fs.existsSync(link)).toBe(false);
    } finally {
      client.destroy();
      await slow.close();
    }
  });
});
