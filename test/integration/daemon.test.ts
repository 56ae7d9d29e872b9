/**
 * The daemon end to end through its unix socket, against the local EC2 endpoint with the real SDK and real loop
 * devices: what a Docker engine would see, without Docker.
 */
import { CreateVolumeCommand, DescribeVolumesCommand, EC2Client, ModifyVolumeCommand } from '@aws-sdk/client-ec2';
import { volumeTagSpecifications } from '../../src/cloud/tags';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../support/daemon';
import { startLocalEc2, TEST_ACCESS_KEY, TEST_SECRET_KEY, type LocalEc2 } from '../support/local-ec2';
import { isMounted, unmountAllUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeAsRoot } from '../support/privileges';
import { writeDurably } from '../support/files';

type Daemon = RunningDaemon & { root: string };

/** A container's view of the volume: a bind mount of its data directory, which keeps the device busy. */
function holdLikeAContainer(d: Daemon, dataPath: string): string {
  const target = fs.mkdtempSync(path.join(d.root, 'container-'));
  execFileSync('mount', ['--bind', dataPath, target]);
  return target;
}


describeAsRoot('berth daemon against the local EC2 endpoint', () => {
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  const daemons: Daemon[] = [];

  const instanceA = () => endpoint.instances[0];
  const instanceB = () => endpoint.instances[1];
  const instanceInZoneB = () => endpoint.instances[2];

  async function daemon(instance = instanceA(), env: Record<string, string> = {}, keys = true): Promise<Daemon> {
    const started = await startDaemon({ ec2: endpoint.ec2, instance, env, keys });
    daemons.push(started);
    return started;
  }

  async function calls(since = 0): Promise<Array<{ seq: number; action: string; volumeId?: string; result: string }>> {
    return endpoint.admin('GET', `calls?since=${since}`);
  }
  async function lastSeq(): Promise<number> {
    const all = await calls();
    return all.length ? all[all.length - 1].seq : 0;
  }

  async function ok(d: Daemon, method: string, body: object) {
    const reply = await d.call(method, body);
    if (reply.body.Err) {
      if (process.env.BERTH_TEST_DEBUG) process.stderr.write(d.logs.join(''));
      throw new Error(`${method} ${JSON.stringify(body)}: ${reply.body.Err}`);
    }
    return reply.body;
  }

  async function describe(volumeId: string) {
    const out = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    return out.Volumes![0];
  }

  beforeAll(async () => {
    endpoint = await startLocalEc2(['id=i-0aaaaaaaaaaaaaaa1,az=us-east-1a', 'id=i-0bbbbbbbbbbbbbbb2,az=us-east-1a,devices=nitro', 'id=i-0ccccccccccccccc3,az=us-east-1b']);
    ec2 = new EC2Client({ region: 'us-east-1', endpoint: endpoint.ec2, credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET_KEY } });
  });

  afterEach(async () => {
    await endpoint.admin('POST', 'faults', {});
  });

  afterAll(async () => {
    for (const d of daemons) await d.stop().catch(() => undefined);
    for (const d of daemons) {
      await unmountAllUnder(d.root);
      fs.rmSync(d.root, { recursive: true, force: true });
    }
    ec2?.destroy();
    await endpoint?.destroy();
  });

  it('creates with every option, shows them in Get, and tags the EBS volume', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', {
      Name: 'opts',
      Opts: { Size: '10', volumeType: 'gp3', iops: '4000', throughput: '250', encrypted: 'true', kmsKeyId: 'alias/berth-test', tags: 'team=db,env=test', fsType: 'xfs', uid: '999', gid: '998', mode: '0750' },
    });
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: 'opts' });
    expect(Volume.Name).toBe('opts');
    expect(new Date(Volume.CreatedAt).toISOString()).toBe(Volume.CreatedAt);
    expect(Volume.Status).toMatchObject({ sizeGiB: 10, volumeType: 'gp3', iops: 4000, throughputMiBps: 250, encrypted: true, availabilityZone: 'us-east-1a', fsType: 'xfs', state: 'available' });
    const ebs = await describe(Volume.Status.volumeId);
    const tags = Object.fromEntries(ebs.Tags!.map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ Name: 'opts', team: 'db', env: 'test', 'berth:name': 'opts', 'berth:namespace': 'default' });

    await ok(d, 'VolumeDriver.Create', { Name: 'io', Opts: { type: 'io2', iops: '500', size: '8' } });
    await ok(d, 'VolumeDriver.Create', { Name: 'cold', Opts: { type: 'sc1', size: '125' } });
    expect((await ok(d, 'VolumeDriver.Get', { Name: 'io' })).Volume.Status).toMatchObject({ volumeType: 'io2', iops: 500 });
    expect((await ok(d, 'VolumeDriver.Get', { Name: 'cold' })).Volume.Status).toMatchObject({ volumeType: 'sc1', sizeGiB: 125 });

    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: 'opts', ID: 'm' })).Mountpoint;
    const stat = fs.statSync(mountpoint);
    expect([stat.uid, stat.gid, stat.mode & 0o7777]).toEqual([999, 998, 0o750]);
    expect(fs.readFileSync('/proc/self/mounts', 'utf8')).toMatch(new RegExp(`${path.dirname(mountpoint)} xfs `));
    await ok(d, 'VolumeDriver.Unmount', { Name: 'opts', ID: 'm' });
  });

  const KMS_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
  const KMS_KEY_ARN = new RegExp(`^arn:aws:kms:us-east-1:\\d{12}:key/${KMS_KEY_ID}$`);

  it('with EBS_KMSKEYID, encrypts a volume created without options with that key, and Get says encrypted', async () => {
    const d = await daemon(instanceA(), { EBS_KMSKEYID: KMS_KEY_ID });
    await ok(d, 'VolumeDriver.Create', { Name: 'kms-default', Opts: null });
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: 'kms-default' });
    expect(Volume.Status.encrypted).toBe(true);
    const ebs = await describe(Volume.Status.volumeId);
    expect(ebs.Encrypted).toBe(true);
    expect(ebs.KmsKeyId).toMatch(KMS_KEY_ARN);
  });

  it('with EBS_KMSKEYID, refuses encrypted=false, naming EBS_KMSKEYID, and creates no EBS volume', async () => {
    const d = await daemon(instanceA(), { EBS_KMSKEYID: KMS_KEY_ID });
    const since = await lastSeq();
    const reply = await d.call('VolumeDriver.Create', { Name: 'kms-refused', Opts: { encrypted: 'false' } });
    expect(reply.body.Err).toMatch(/^encrypted: .*EBS_KMSKEYID.*remove encrypted=false, or unset EBS_KMSKEYID/);
    expect((await calls(since)).filter((call) => call.action === 'CreateVolume')).toEqual([]);
    expect((await d.call('VolumeDriver.Get', { Name: 'kms-refused' })).body.Volume).toBeNull();
    const tagged = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:berth:name', Values: ['kms-refused'] }] }));
    expect(tagged.Volumes).toEqual([]);
  });

  it('without EBS_KMSKEYID, encrypted=false gives an unencrypted volume', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'kms-none', Opts: { encrypted: 'false' } });
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: 'kms-none' });
    expect(Volume.Status.encrypted).toBe(false);
    const ebs = await describe(Volume.Status.volumeId);
    expect(ebs.Encrypted).toBe(false);
    expect(ebs.KmsKeyId).toBeUndefined();
  });

  it('refuses bad options with the key named and makes zero CreateVolume calls', async () => {
    const d = await daemon();
    const since = await lastSeq();
    for (const opts of [{ size: 'lots' }, { sizee: '1' }, { type: 'gp2', iops: '3000' }, { type: 'st1', size: '100' }, { encrypted: 'maybe' }]) {
      const reply = await d.call('VolumeDriver.Create', { Name: 'bad', Opts: opts });
      expect(reply.body.Err).toMatch(new RegExp(Object.keys(opts).join('|')));
    }
    expect((await d.call('VolumeDriver.Create', { Name: '../escape', Opts: null })).body.Err).toMatch(/name/);
    expect((await calls(since)).filter((call) => call.action === 'CreateVolume')).toEqual([]);
    expect((await d.call('VolumeDriver.Get', { Name: 'bad' })).body.Volume).toBeNull();
  });

  it('refuses an availability zone the region does not have, naming the option and the zones it has, with no CreateVolume', async () => {
    const d = await daemon();
    const since = await lastSeq();
    const reply = await d.call('VolumeDriver.Create', { Name: 'nowhere', Opts: { az: 'us-east-1z' } });
    expect(reply.body.Err).toMatch(/^az: us-east-1z is not an availability zone of this region; its zones are us-east-1a, us-east-1b, /);
    expect((await calls(since)).map((call) => call.action)).toEqual(['DescribeAvailabilityZones']);
    await ok(d, 'VolumeDriver.Create', { Name: 'somewhere', Opts: { az: 'us-east-1b' } });
    expect((await ok(d, 'VolumeDriver.Get', { Name: 'somewhere' })).Volume.Status.availabilityZone).toBe('us-east-1b');
  });

  it('formats once, keeps data across unmount and remount, and removes the volume', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'data', Opts: null });
    const first = (await ok(d, 'VolumeDriver.Mount', { Name: 'data', ID: 'c1' })).Mountpoint;
    expect(first).toBe(path.join(d.mountRoot, 'data', 'data'));
    fs.writeFileSync(path.join(first, 'hello.txt'), 'kept');
    await ok(d, 'VolumeDriver.Unmount', { Name: 'data', ID: 'c1' });
    expect(isMounted(path.join(d.mountRoot, 'data'))).toBe(false);
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: 'data' });
    expect(Volume.Status).toMatchObject({ attachedTo: '', formatted: true });

    const since = await lastSeq();
    const second = (await ok(d, 'VolumeDriver.Mount', { Name: 'data', ID: 'c2' })).Mountpoint;
    expect(fs.readFileSync(path.join(second, 'hello.txt'), 'utf8')).toBe('kept');
    expect((await calls(since)).filter((call) => call.action === 'AttachVolume')).toHaveLength(1);
    expect((await ok(d, 'VolumeDriver.Path', { Name: 'data' })).Mountpoint).toBe(second);
    await expect(d.call('VolumeDriver.Remove', { Name: 'data' })).resolves.toMatchObject({ body: { Err: expect.stringMatching(/mounted on this host/) } });
    await ok(d, 'VolumeDriver.Unmount', { Name: 'data', ID: 'c2' });
    await ok(d, 'VolumeDriver.Remove', { Name: 'data' });
    expect((await d.call('VolumeDriver.Get', { Name: 'data' })).body.Volume).toBeNull();
    const deleted = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [Volume.Status.volumeId] })).catch((err: Error) => err);
    expect(deleted instanceof Error ? deleted.name : deleted.Volumes?.[0]?.State).toMatch(/InvalidVolume.NotFound|deleted|deleting/);
  });

  it.each(['ext4', 'xfs'])('grows a %s filesystem at the next mount after the EBS volume was enlarged, keeping its data', async (fsType) => {
    const d = await daemon();
    const name = `growing-${fsType}`;
    await ok(d, 'VolumeDriver.Create', { Name: name, Opts: { size: '1', fsType } });
    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: name, ID: 'a' })).Mountpoint;
    writeDurably(path.join(mountpoint, 'small'), 'before');
    const sizeOf = () => fs.statfsSync(mountpoint).blocks * fs.statfsSync(mountpoint).bsize;
    expect(sizeOf()).toBeLessThan(1.1 * 2 ** 30);
    await ok(d, 'VolumeDriver.Unmount', { Name: name, ID: 'a' });
    const volumeId = (await ok(d, 'VolumeDriver.Get', { Name: name })).Volume.Status.volumeId;
    await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 3 }));
    await ok(d, 'VolumeDriver.Mount', { Name: name, ID: 'b' });
    expect(sizeOf()).toBeGreaterThan(2.5 * 2 ** 30);
    expect(fs.readFileSync(path.join(mountpoint, 'small'), 'utf8')).toBe('before');
    await ok(d, 'VolumeDriver.Unmount', { Name: name, ID: 'b' });
  });

  it('two containers starting at once get one attach and one mount', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'pair', Opts: {} });
    const since = await lastSeq();
    const [a, b] = await Promise.all([ok(d, 'VolumeDriver.Mount', { Name: 'pair', ID: 'a' }), ok(d, 'VolumeDriver.Mount', { Name: 'pair', ID: 'b' })]);
    expect(a.Mountpoint).toBe(b.Mountpoint);
    expect((await calls(since)).filter((call) => call.action === 'AttachVolume')).toHaveLength(1);
    await ok(d, 'VolumeDriver.Unmount', { Name: 'pair', ID: 'a' });
    fs.writeFileSync(path.join(b.Mountpoint, 'still'), 'writable');
    await ok(d, 'VolumeDriver.Unmount', { Name: 'pair', ID: 'b' });
    expect(isMounted(path.dirname(b.Mountpoint))).toBe(false);
  });

  it('keeps the mount counts across a daemon crash while a container holds the volume: the other container still reads and writes', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'survivor', Opts: {} });
    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: 'survivor', ID: 'one' })).Mountpoint;
    await ok(d, 'VolumeDriver.Mount', { Name: 'survivor', ID: 'two' });
    const container = holdLikeAContainer(d, mountpoint);
    try {
      await d.kill();
      const restarted = await startDaemon({ ec2: endpoint.ec2, instance: instanceA(), dirs: { root: d.root } });
      daemons.push(restarted);
      await ok(restarted, 'VolumeDriver.Unmount', { Name: 'survivor', ID: 'one' });
      fs.writeFileSync(path.join(mountpoint, 'after-restart'), 'yes');
      expect(fs.readFileSync(path.join(container, 'after-restart'), 'utf8')).toBe('yes');
    } finally {
      execFileSync('umount', [container]);
    }
    await ok(daemons[daemons.length - 1], 'VolumeDriver.Unmount', { Name: 'survivor', ID: 'two' });
    expect(isMounted(path.dirname(mountpoint))).toBe(false);
  });

  it('after a crash, releases a volume whose container died meanwhile, though Docker never unmounts it', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'orphan', Opts: {} });
    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: 'orphan', ID: 'died-with-dockerd' })).Mountpoint;
    const volumeId = (await ok(d, 'VolumeDriver.Get', { Name: 'orphan' })).Volume.Status.volumeId;
    await d.kill();
    const restarted = await startDaemon({ ec2: endpoint.ec2, instance: instanceA(), dirs: { root: d.root } });
    daemons.push(restarted);
    expect(isMounted(path.dirname(mountpoint))).toBe(false);
    await waitFor(`${volumeId} detached`, async () => (await describe(volumeId)).Attachments?.length === 0, { timeoutMs: 10_000, intervalMs: 100 });
    const b = await daemon(instanceB());
    await ok(b, 'VolumeDriver.Mount', { Name: 'orphan', ID: 'next-task' });
    await ok(b, 'VolumeDriver.Unmount', { Name: 'orphan', ID: 'next-task' });
  });

  it('with the release delay, Docker\'s create-then-start Mount pair attaches once, and the volume is released after the delay', async () => {
    const d = await daemon(instanceA(), { EBS_RELEASEDELAY: '1s' });
    await ok(d, 'VolumeDriver.Create', { Name: 'copyup', Opts: {} });
    const volumeId = (await ok(d, 'VolumeDriver.Get', { Name: 'copyup' })).Volume.Status.volumeId;
    const since = await lastSeq();
    await ok(d, 'VolumeDriver.Mount', { Name: 'copyup', ID: 'c' });
    await ok(d, 'VolumeDriver.Unmount', { Name: 'copyup', ID: 'c' });
    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: 'copyup', ID: 'c' })).Mountpoint;
    const actions = (await calls(since)).map((call) => call.action);
    expect(actions.filter((action) => action === 'AttachVolume')).toHaveLength(1);
    expect(actions.filter((action) => action === 'DetachVolume')).toHaveLength(0);
    writeDurably(path.join(mountpoint, 'written'), 'once');
    await ok(d, 'VolumeDriver.Unmount', { Name: 'copyup', ID: 'c' });
    await waitFor(`${volumeId} detached after the delay`, async () => (await describe(volumeId)).Attachments?.length === 0, { timeoutMs: 20_000, intervalMs: 100 });
    expect(isMounted(path.dirname(mountpoint))).toBe(false);
  });

  it('refuses a volume attached to the other instance, naming it; with preemption fences the old mount and takes over', async () => {
    const a = await daemon(instanceA());
    const b = await daemon(instanceB(), { EBS_RELEASEWAIT: '300ms' });
    await ok(a, 'VolumeDriver.Create', { Name: 'contested', Opts: {} });
    const oldMount = (await ok(a, 'VolumeDriver.Mount', { Name: 'contested', ID: 'x' })).Mountpoint;
    writeDurably(path.join(oldMount, 'from-a'), 'a');
    const refused = await b.call('VolumeDriver.Mount', { Name: 'contested', ID: 'y' });
    expect(refused.body.Err).toContain(instanceA().id);

    const preempting = await daemon(instanceB(), { EBS_PREEMPT: 'true', EBS_RELEASEWAIT: '300ms' });
    const newMount = (await ok(preempting, 'VolumeDriver.Mount', { Name: 'contested', ID: 'y' })).Mountpoint;
    expect(fs.readFileSync(path.join(newMount, 'from-a'), 'utf8')).toBe('a');
    expect(() => writeDurably(path.join(oldMount, 'late-write-from-a'), 'must fail')).toThrow();
    writeDurably(path.join(newMount, 'from-b'), 'b');
    await ok(preempting, 'VolumeDriver.Unmount', { Name: 'contested', ID: 'y' });
    // Back on A: the old container stops; berth unmounts its fenced filesystem without detaching B's work.
    await ok(a, 'VolumeDriver.Unmount', { Name: 'contested', ID: 'x' });
    expect(isMounted(path.dirname(oldMount))).toBe(false);
  });

  it('refuses a volume from another availability zone, naming both, unless created with crossAZ=snapshot: then moves it with its data', async () => {
    const a = await daemon(instanceA());
    const c = await daemon(instanceInZoneB());
    await ok(a, 'VolumeDriver.Create', { Name: 'pinned', Opts: {} });
    expect((await c.call('VolumeDriver.Mount', { Name: 'pinned', ID: 'z' })).body.Err).toMatch(/us-east-1a.*us-east-1b/);

    await ok(a, 'VolumeDriver.Create', { Name: 'nomad', Opts: { crossAZ: 'snapshot' } });
    const before = (await ok(a, 'VolumeDriver.Mount', { Name: 'nomad', ID: 'x' })).Mountpoint;
    writeDurably(path.join(before, 'journey'), 'from us-east-1a');
    const oldId = (await ok(a, 'VolumeDriver.Get', { Name: 'nomad' })).Volume.Status.volumeId;
    await ok(a, 'VolumeDriver.Unmount', { Name: 'nomad', ID: 'x' });

    const after = (await ok(c, 'VolumeDriver.Mount', { Name: 'nomad', ID: 'y' })).Mountpoint;
    expect(fs.readFileSync(path.join(after, 'journey'), 'utf8')).toBe('from us-east-1a');
    const { Volume } = await ok(c, 'VolumeDriver.Get', { Name: 'nomad' });
    expect(Volume.Status.availabilityZone).toBe('us-east-1b');
    expect(Volume.Status.volumeId).not.toBe(oldId);
    const old = await describe(oldId);
    const oldTags = Object.fromEntries(old.Tags!.map((tag) => [tag.Key, tag.Value]));
    expect(old.State).toBe('available');
    expect(oldTags['berth:retired']).toMatch(/^moved nomad /);
    expect(oldTags['berth:name']).toBeUndefined();
    const live = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:berth:name', Values: ['nomad'] }] }));
    expect(live.Volumes!.map((volume) => volume.VolumeId)).toEqual([Volume.Status.volumeId]);
    await ok(c, 'VolumeDriver.Unmount', { Name: 'nomad', ID: 'y' });
  });

  it('still succeeds with throttling and server errors injected', async () => {
    const d = await daemon();
    await endpoint.admin('POST', 'faults', { throttle: { everyNth: 4, count: 6 }, serverError: { everyNth: 5, count: 3, code: 'Unavailable' } });
    await ok(d, 'VolumeDriver.Create', { Name: 'bumpy', Opts: {} });
    const mountpoint = (await ok(d, 'VolumeDriver.Mount', { Name: 'bumpy', ID: 'a' })).Mountpoint;
    fs.writeFileSync(path.join(mountpoint, 'f'), 'x');
    await ok(d, 'VolumeDriver.Unmount', { Name: 'bumpy', ID: 'a' });
    await ok(d, 'VolumeDriver.Remove', { Name: 'bumpy' });
    const results = (await calls()).map((call) => call.result);
    expect(results).toContain('RequestLimitExceeded');
    expect(results).toContain('Unavailable');
    expect(d.logs.join('')).not.toMatch(/"level":"error"/);
  });

  it.each([
    ['an attachment stuck attaching', { stuckAttaching: true }],
    ['a device that never appears', { missingDevice: true }],
  ])('gives a clear Err within the bound for %s, and leaves nothing attached or mounted', async (_, fault) => {
    const d = await daemon(instanceA(), { EBS_MOUNTTIMEOUT: '3s' });
    await ok(d, 'VolumeDriver.Create', { Name: `faulty-${Object.keys(fault)[0]}`, Opts: {} });
    const name = `faulty-${Object.keys(fault)[0]}`;
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: name });
    await endpoint.admin('POST', 'faults', fault);
    const started = Date.now();
    const reply = await d.call('VolumeDriver.Mount', { Name: name, ID: 'a' });
    expect(reply.body.Err).toMatch(/did not (finish|appear)|stuck|attaching/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await endpoint.admin('POST', 'faults', {});
    const ebs = await describe(Volume.Status.volumeId);
    expect(ebs.Attachments ?? []).toEqual([]);
    expect(isMounted(path.join(d.mountRoot, name))).toBe(false);
  });

  it('runs with instance-role credentials from the metadata service and no keys', async () => {
    const d = await daemon(instanceA(), {}, false);
    await ok(d, 'VolumeDriver.Create', { Name: 'role', Opts: {} });
    expect((await ok(d, 'VolumeDriver.Get', { Name: 'role' })).Volume.Status.volumeId).toMatch(/^vol-/);
  });

  it('fetches fresh instance-role credentials when EC2 says the ones it holds have expired', async () => {
    const d = await daemon(instanceA(), {}, false);
    await ok(d, 'VolumeDriver.Create', { Name: 'role-before', Opts: {} });
    await endpoint.admin('POST', 'faults', { credentials: { expireIssued: true } });
    try {
      await ok(d, 'VolumeDriver.Create', { Name: 'role-after', Opts: {} });
      expect((await ok(d, 'VolumeDriver.Get', { Name: 'role-after' })).Volume.Status.volumeId).toMatch(/^vol-/);
    } finally {
      await endpoint.admin('POST', 'faults', {});
    }
  });

  it('answers Get for a known volume from its persisted cache while EC2 fails, marked stale', async () => {
    const d = await daemon(instanceA(), { EBS_LISTCACHE: '0', EBS_MAXRETRIES: '1' });
    await ok(d, 'VolumeDriver.Create', { Name: 'known', Opts: {} });
    await endpoint.admin('POST', 'faults', { serverError: { actions: ['DescribeVolumes'] } });
    const { Volume } = await ok(d, 'VolumeDriver.Get', { Name: 'known' });
    expect(Volume.Name).toBe('known');
    expect(Volume.Status.stale).toBeDefined();
  });

  it('while it cannot reach the metadata service after a restart, still answers Get and List for the volumes it knows', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'remembered', Opts: {} });
    await d.stop();
    const cut = await startDaemon({ ec2: endpoint.ec2, instance: { ...instanceA(), imds: 'http://127.0.0.1:9' }, dirs: { root: d.root }, waitReady: false });
    daemons.push(cut);
    const { Volume } = await ok(cut, 'VolumeDriver.Get', { Name: 'remembered' });
    expect(Volume.Status).toMatchObject({ stale: expect.any(String), availabilityZone: 'us-east-1a' });
    expect((await ok(cut, 'VolumeDriver.List', {})).Volumes.map((v: { Name: string }) => v.Name)).toContain('remembered');
  });

  it('lists more than one page of volumes and serves a warm List and Get without EC2 calls', async () => {
    const names = Array.from({ length: 520 }, (_, i) => `page-${i}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map((name) =>
          ec2.send(
            new CreateVolumeCommand({
              AvailabilityZone: 'us-east-1a',
              Size: 1,
              VolumeType: 'gp3',
              TagSpecifications: volumeTagSpecifications({ name, sizeGiB: 1, volumeType: 'gp3', encrypted: false, availabilityZone: 'us-east-1a', extraTags: {}, format: { fsType: 'ext4', mkfsOptions: [] } }, 'paging', 1),
            }),
          ),
        ),
      );
    }
    const since = await lastSeq();
    const d = await daemon(instanceA(), { EBS_TAG: 'paging', EBS_LOGLEVEL: 'debug' });
    const cold = await ok(d, 'VolumeDriver.List', {});
    expect(cold.Volumes.map((v: { Name: string }) => v.Name).sort()).toEqual([...names].sort());
    expect((await calls(since)).filter((call) => call.action === 'DescribeVolumes').length).toBeGreaterThanOrEqual(2);
    // The second page was read by the listing thread, off the event loop that answers Docker.
    expect(d.logs.join('')).toContain('"message":"listing thread started"');
    expect(d.logs.join('')).not.toContain('listing thread is unavailable');
    const warm = await lastSeq();
    await ok(d, 'VolumeDriver.List', {});
    expect((await ok(d, 'VolumeDriver.Get', { Name: 'page-7' })).Volume.Name).toBe('page-7');
    expect(await calls(warm)).toEqual([]);
    // Another namespace sees none of them.
    expect((await ok(await daemon(instanceA(), { EBS_TAG: 'other' }), 'VolumeDriver.List', {})).Volumes).toEqual([]);
  });

  it('on SIGTERM rolls back an unfinished Mount, keeps finished ones mounted and attached, and removes its socket', async () => {
    const d = await daemon();
    await ok(d, 'VolumeDriver.Create', { Name: 'kept-on-stop', Opts: {} });
    await ok(d, 'VolumeDriver.Create', { Name: 'cut-short', Opts: {} });
    const kept = (await ok(d, 'VolumeDriver.Mount', { Name: 'kept-on-stop', ID: 'a' })).Mountpoint;
    const cutShort = (await ok(d, 'VolumeDriver.Get', { Name: 'cut-short' })).Volume.Status.volumeId;
    await endpoint.admin('POST', 'faults', { stuckAttaching: [cutShort] });
    const pending = d.call('VolumeDriver.Mount', { Name: 'cut-short', ID: 'b' }).catch((err: Error) => err);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await d.stop();
    expect(d.child.exitCode).toBe(0);
    await pending;
    expect(fs.existsSync(d.socket)).toBe(false);
    expect(isMounted(path.dirname(kept))).toBe(true);
    expect((await describe(cutShort)).Attachments ?? []).toEqual([]);
    const restarted = await startDaemon({ ec2: endpoint.ec2, instance: instanceA(), dirs: { root: d.root } });
    daemons.push(restarted);
    await ok(restarted, 'VolumeDriver.Unmount', { Name: 'kept-on-stop', ID: 'a' });
    expect(isMounted(path.dirname(kept))).toBe(false);
  });

  it('keeps access and secret keys out of every log line and state file', async () => {
    const d = await daemon(instanceA(), { EBS_LOGLEVEL: 'debug' });
    await ok(d, 'VolumeDriver.Create', { Name: 'secretive', Opts: {} });
    await ok(d, 'VolumeDriver.Mount', { Name: 'secretive', ID: 'a' });
    await ok(d, 'VolumeDriver.Unmount', { Name: 'secretive', ID: 'a' });
    await d.stop();
    const logs = d.logs.join('');
    expect(logs).toContain('secretive');
    const state = fs.readdirSync(d.stateDir).map((file) => fs.readFileSync(path.join(d.stateDir, file), 'utf8')).join('');
    for (const secret of [TEST_ACCESS_KEY, TEST_SECRET_KEY]) {
      expect(logs).not.toContain(secret);
      expect(state).not.toContain(secret);
    }
  });
});
