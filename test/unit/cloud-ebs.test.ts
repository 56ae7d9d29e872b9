import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  type DescribeVolumesCommandInput,
  type Volume,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { PassThrough } from 'node:stream';
import type { CloudConfig } from '../../src/cloud/context';
import { clientToken } from '../../src/cloud/create-input';
import { EbsCloud } from '../../src/cloud/ebs';
import type { CreateVolumeSpec, InstanceIdentity } from '../../src/cloud/types';
import { BerthError, ValidationError } from '../../src/common/errors';
import { createLogger } from '../../src/log';

const ME: InstanceIdentity = { instanceId: 'i-0me0000000000000a', region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 'm5.large' };
const OTHER = 'i-0other00000000000b';

const CONFIG: CloudConfig = {
  endpoint: '',
  region: '',
  accessKey: '',
  secretKey: '',
  metadataEndpoint: 'http://127.0.0.1:1',
  maxRetries: 1,
  callTimeoutMs: 1000,
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  statusInitialDelayMs: 2,
  statusMaxAttempts: 1000,
  statusTimeoutMs: 3000,
  useLargeDeviceRange: false,
  tag: '',
  adoptRexray: false,
  kmsKeyId: '',
  fsType: 'ext4',
};

function ec2Error(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function berthTags(name: string, namespace = 'default', extra: Record<string, string> = {}) {
  return { Name: namespace === 'default' ? name : `${namespace}/${name}`, 'berth:namespace': namespace, 'berth:name': name, 'berth:fsType': 'ext4', ...extra };
}

function volume(id: string, tags: Record<string, string>, extra: Partial<Volume> = {}): Volume {
  return {
    VolumeId: id,
    Size: 16,
    VolumeType: 'gp3',
    State: 'available',
    AvailabilityZone: 'us-east-1a',
    CreateTime: new Date('2026-06-01T00:00:00Z'),
    Encrypted: false,
    Attachments: [],
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...extra,
  };
}

/** Does a volume match DescribeVolumes filters (tag:K exact or trailing *, tag-key)? */
function matches(v: Volume, filters: DescribeVolumesCommandInput['Filters']): boolean {
  const tags = Object.fromEntries((v.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
  return (filters ?? []).every((filter) => {
    const values = filter.Values ?? [];
    if (filter.Name === 'tag-key') return values.some((key) => key in tags);
    const key = filter.Name?.replace(/^tag:/, '') ?? '';
    const value = tags[key];
    return value !== undefined && values.some((wanted) => (wanted.endsWith('*') ? value.startsWith(wanted.slice(0, -1)) : value === wanted));
  });
}

function setup(config: Partial<CloudConfig> = {}) {
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
  const mock = mockClient(ec2);
  const volumes = new Map<string, Volume>();
  /** Called on every describe of a volume, by id or by filters: lets a test move it through states. */
  const evolve = new Map<string, (v: Volume, polls: number) => Volume>();
  const polls = new Map<string, number>();
  const look = (id: string, v: Volume): Volume => {
    const count = (polls.get(id) ?? 0) + 1;
    polls.set(id, count);
    const step = evolve.get(id);
    if (!step) return v;
    const next = step(v, count);
    volumes.set(id, next);
    return next;
  };
  mock.on(DescribeVolumesCommand).callsFake((input: DescribeVolumesCommandInput) => {
    if (input.VolumeIds) {
      const found: Volume[] = [];
      for (const id of input.VolumeIds) {
        const v = volumes.get(id);
        if (!v) throw ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
        found.push(look(id, v));
      }
      return { Volumes: found };
    }
    return { Volumes: [...volumes].filter(([, v]) => matches(v, input.Filters)).map(([id, v]) => look(id, v)) };
  });
  mock.on(DescribeInstancesCommand).resolves({
    Reservations: [{ Instances: [{ InstanceId: ME.instanceId, BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }, { DeviceName: '/dev/sdf' }] }] }],
  });
  const output = new PassThrough();
  const lines: string[] = [];
  output.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const logger = createLogger({ level: 'debug', stream: output });
  const cloud = new EbsCloud({ ec2, identity: ME, config: { ...CONFIG, ...config }, logger, batchWindowMs: 5 });
  const signal = () => AbortSignal.timeout(10_000);
  return { cloud, mock, volumes, evolve, lines, signal };
}

const spec: CreateVolumeSpec = {
  name: 'pgdata',
  sizeGiB: 20,
  volumeType: 'gp3',
  throughput: 250,
  encrypted: false,
  availabilityZone: 'us-east-1a',
  extraTags: { team: 'db' },
  format: { fsType: 'ext4', mkfsOptions: [] },
};

describe('EbsCloud lookups', () => {
  it('finds a volume by its namespace and name tags, region-wide', async () => {
    const { cloud, mock, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { AvailabilityZone: 'us-east-1c' }));
    volumes.set('vol-2', volume('vol-2', berthTags('other')));
    const found = await cloud.findByName('pgdata');
    expect(found?.volumeId).toBe('vol-1');
    expect(found?.availabilityZone).toBe('us-east-1c');
    const filters = mock.commandCalls(DescribeVolumesCommand)[0].args[0].input.Filters ?? [];
    expect(filters).toEqual([
      { Name: 'tag:berth:namespace', Values: ['default'] },
      { Name: 'tag:berth:name', Values: ['pgdata'] },
    ]);
    expect(filters.some((filter) => filter.Name === 'availability-zone')).toBe(false);
  });

  it('picks the oldest of two volumes with one name and warns', async () => {
    const { cloud, volumes, lines } = setup();
    volumes.set('vol-new', volume('vol-new', berthTags('pgdata'), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
    volumes.set('vol-old', volume('vol-old', berthTags('pgdata'), { CreateTime: new Date('2026-06-01T00:00:00Z') }));
    expect((await cloud.findByName('pgdata'))?.volumeId).toBe('vol-old');
    const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.level === 'warn');
    expect(warning.using).toBe('vol-old');
    expect(warning.others).toEqual(['vol-new']);
  });

  it('skips deleting and retired volumes', async () => {
    const { cloud, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { State: 'deleting' }));
    volumes.set('vol-2', volume('vol-2', berthTags('pgdata', 'default', { 'berth:retired': 'retained pgdata 2026' })));
    expect(await cloud.findByName('pgdata')).toBeUndefined();
  });

  it('adopts a REX-Ray volume by its Name tag only with adoptRexray, and never one with berth tags', async () => {
    const plain = setup({ tag: 'prod' });
    plain.volumes.set('vol-rr', volume('vol-rr', { Name: 'prod/legacy' }));
    expect(await plain.cloud.findByName('legacy')).toBeUndefined();

    const adopting = setup({ tag: 'prod', adoptRexray: true });
    adopting.volumes.set('vol-rr', volume('vol-rr', { Name: 'prod/legacy' }));
    adopting.volumes.set('vol-mixed', volume('vol-mixed', { Name: 'prod/legacy', 'berth:generation': '1' }));
    const found = await adopting.cloud.findByName('legacy');
    expect(found?.volumeId).toBe('vol-rr');
    expect(found?.owner).toBe('rexray');
    expect(found?.unformatted).toBe(false);
    const nameFilter = adopting.mock.commandCalls(DescribeVolumesCommand)[1].args[0].input.Filters;
    expect(nameFilter).toEqual([{ Name: 'tag:Name', Values: ['prod/legacy'] }]);
  });

  it('lists every page of the namespace with MaxResults 500', async () => {
    const { cloud, mock } = setup();
    const page = (ids: string[], NextToken?: string) => ({ Volumes: ids.map((id) => volume(id, berthTags(`name-${id}`))), NextToken });
    mock
      .on(DescribeVolumesCommand)
      .resolvesOnce(page(['vol-1', 'vol-2'], 't1'))
      .resolvesOnce(page(['vol-3'], 't2'))
      .resolvesOnce(page(['vol-4']));
    const listed = await cloud.listVolumes();
    expect(listed.map((v) => v.volumeId).sort()).toEqual(['vol-1', 'vol-2', 'vol-3', 'vol-4']);
    const inputs = mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input);
    expect(inputs.map((input) => input.NextToken)).toEqual([undefined, 't1', 't2']);
    expect(inputs.every((input) => input.MaxResults === 500)).toBe(true);
    expect(inputs[0].Filters).toEqual([{ Name: 'tag:berth:namespace', Values: ['default'] }]);
  });

  it('lists REX-Ray volumes of the namespace too with adoptRexray', async () => {
    const { cloud, volumes } = setup({ tag: 'prod', adoptRexray: true });
    volumes.set('vol-1', volume('vol-1', berthTags('a', 'prod')));
    volumes.set('vol-2', volume('vol-2', { Name: 'prod/b' }));
    volumes.set('vol-3', volume('vol-3', { Name: 'staging/c' }));
    expect((await cloud.listVolumes()).map((v) => `${v.name}:${v.owner}`).sort()).toEqual(['a:berth', 'b:rexray']);
  });

  it('batches 10 concurrent describe() calls into one DescribeVolumes', async () => {
    const { cloud, mock, volumes } = setup();
    const ids = Array.from({ length: 10 }, (_, i) => `vol-${i}`);
    for (const id of ids) volumes.set(id, volume(id, berthTags(id)));
    const described = await Promise.all(ids.map((id) => cloud.describe(id)));
    expect(described.map((v) => v?.volumeId)).toEqual(ids);
    const calls = mock.commandCalls(DescribeVolumesCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.VolumeIds).toHaveLength(10);
  });

  it('answers undefined for a missing volume without failing the others in its batch', async () => {
    const { cloud, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    const [a, missing] = await Promise.all([cloud.describe('vol-1'), cloud.describe('vol-missing')]);
    expect(a?.name).toBe('a');
    expect(missing).toBeUndefined();
  });
});

describe('EbsCloud.create', () => {
  function acceptCreates(ctx: ReturnType<typeof setup>, ids: string[]) {
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      const id = ids.shift() as string;
      const tags = Object.fromEntries(input.TagSpecifications[0].Tags.map((tag: { Key: string; Value: string }) => [tag.Key, tag.Value]));
      ctx.volumes.set(id, volume(id, tags, { State: 'creating', Size: input.Size, Throughput: input.Throughput }));
      ctx.evolve.set(id, (v, polls) => (polls >= 3 ? { ...v, State: 'available' } : v));
      return { VolumeId: id, State: 'creating' };
    });
  }

  it('creates with a generation-1 ClientToken and tags in TagSpecifications, and waits for available', async () => {
    const ctx = setup();
    acceptCreates(ctx, ['vol-new']);
    const created = await ctx.cloud.create(spec);
    expect(created.volumeId).toBe('vol-new');
    expect(created.state).toBe('available');
    expect(created.unformatted).toBe(true);
    expect(created.throughput).toBe(250);
    const input = ctx.mock.commandCalls(CreateVolumeCommand)[0].args[0].input;
    expect(input.ClientToken).toBe(clientToken('default', 'pgdata', 1));
    expect(input.ClientToken).toHaveLength(64);
    expect(input.Encrypted).toBe(false);
    const tags = Object.fromEntries((input.TagSpecifications?.[0].Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ Name: 'pgdata', 'berth:namespace': 'default', 'berth:name': 'pgdata', 'berth:generation': '1', team: 'db' });
    expect(ctx.mock.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });

  it('makes no lookup of its own right after a namespace listing that lacks the name', async () => {
    const ctx = setup();
    acceptCreates(ctx, ['vol-new']);
    await ctx.cloud.listVolumes();
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-new');
    const calls = ctx.mock.calls();
    const createAt = calls.findIndex((call) => call.args[0] instanceof CreateVolumeCommand);
    expect(calls.slice(0, createAt).filter((call) => call.args[0] instanceof DescribeVolumesCommand)).toHaveLength(1);
  });

  it('still finds a volume of that name when the listing has it', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-there', volume('vol-there', berthTags('pgdata')));
    await ctx.cloud.listVolumes();
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-there');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(0);
  });

  it('waits by name: the answer that shows the new volume available is also the race check', async () => {
    const ctx = setup();
    acceptCreates(ctx, ['vol-new']);
    await ctx.cloud.create(spec);
    // One lookup before creating, then three polls (the fake volume is available at the third): no extra lookup.
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(4);
  });

  it('uses the older of two volumes created with one name at the same time and deletes its own', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      const tags = Object.fromEntries(input.TagSpecifications[0].Tags.map((tag: { Key: string; Value: string }) => [tag.Key, tag.Value]));
      ctx.volumes.set('vol-mine', volume('vol-mine', tags, { State: 'creating', CreateTime: new Date('2026-06-02T00:00:01Z') }));
      ctx.evolve.set('vol-mine', (v, polls) => (polls >= 2 ? { ...v, State: 'available' } : v));
      // Another host's create of the same name, a moment earlier, that our lookup before creating did not see.
      ctx.volumes.set('vol-theirs', volume('vol-theirs', berthTags('pgdata', 'default', { 'berth:unformatted': 'true' }), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
      return { VolumeId: 'vol-mine', State: 'creating' };
    });
    ctx.mock.on(DeleteVolumeCommand).resolves({});
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(DeleteVolumeCommand).map((call) => call.args[0].input.VolumeId)).toEqual(['vol-mine']);
  });

  it('returns an existing volume of that name without creating one', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-there', volume('vol-there', berthTags('pgdata')));
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-there');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(0);
  });

  it('after IdempotentParameterMismatch looks the name up again, then moves to the next generation', async () => {
    const ctx = setup();
    acceptCreatesAfterFirst(ctx, 'vol-gen2');
    const created = await ctx.cloud.create(spec);
    expect(created.volumeId).toBe('vol-gen2');
    const tokens = ctx.mock.commandCalls(CreateVolumeCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens).toEqual([clientToken('default', 'pgdata', 1), clientToken('default', 'pgdata', 2)]);
    const lookups = ctx.mock.commandCalls(DescribeVolumesCommand).filter((call) => call.args[0].input.Filters);
    expect(lookups.length).toBeGreaterThanOrEqual(2); // before creating, and again after the mismatch
  });

  function acceptCreatesAfterFirst(ctx: ReturnType<typeof setup>, id: string) {
    ctx.mock.on(CreateVolumeCommand).rejectsOnce(ec2Error('IdempotentParameterMismatch')).callsFake((input) => {
      const tags = Object.fromEntries(input.TagSpecifications[0].Tags.map((tag: { Key: string; Value: string }) => [tag.Key, tag.Value]));
      ctx.volumes.set(id, volume(id, tags, { State: 'available' }));
      return { VolumeId: id, State: 'creating' };
    });
  }

  it('adopts the volume another host created when the token mismatches', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake(() => {
      // Another host won the race with other options; its volume is visible now.
      ctx.volumes.set('vol-theirs', volume('vol-theirs', berthTags('pgdata')));
      throw ec2Error('IdempotentParameterMismatch');
    });
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(1);
  });

  it('moves to the next generation when the token returns a deleted volume', async () => {
    const ctx = setup();
    ctx.mock
      .on(CreateVolumeCommand)
      .resolvesOnce({ VolumeId: 'vol-deleted', State: 'deleted' })
      .callsFake((input) => {
        const tags = Object.fromEntries(input.TagSpecifications[0].Tags.map((tag: { Key: string; Value: string }) => [tag.Key, tag.Value]));
        ctx.volumes.set('vol-fresh', volume('vol-fresh', tags));
        return { VolumeId: 'vol-fresh', State: 'creating' };
      });
    const created = await ctx.cloud.create(spec);
    expect(created.volumeId).toBe('vol-fresh');
    expect(created.tags['berth:generation']).toBe('2');
  });

  it('moves to the next generation when the token returns a retired volume', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-retired', volume('vol-retired', { Name: 'pgdata', 'berth:retired': 'retained pgdata 2026', 'berth:generation': '1' }));
    ctx.mock
      .on(CreateVolumeCommand)
      .resolvesOnce({ VolumeId: 'vol-retired', State: 'available' })
      .callsFake((input) => {
        const tags = Object.fromEntries(input.TagSpecifications[0].Tags.map((tag: { Key: string; Value: string }) => [tag.Key, tag.Value]));
        ctx.volumes.set('vol-fresh', volume('vol-fresh', tags));
        return { VolumeId: 'vol-fresh', State: 'creating' };
      });
    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-fresh');
  });

  it('gives up with a clear error after the last generation', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-deleted', State: 'deleted' });
    const err = await ctx.cloud.create(spec).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/generations/);
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(20);
  });

  it('encrypts with the configured KMS key', async () => {
    const ctx = setup({ kmsKeyId: 'alias/berth' });
    acceptCreates(ctx, ['vol-enc']);
    await ctx.cloud.create(spec);
    const input = ctx.mock.commandCalls(CreateVolumeCommand)[0].args[0].input;
    expect(input.Encrypted).toBe(true);
    expect(input.KmsKeyId).toBe('alias/berth');
  });

  it('fails clearly when the volume enters the error state', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake(() => {
      ctx.volumes.set('vol-bad', volume('vol-bad', berthTags('pgdata'), { State: 'error' }));
      return { VolumeId: 'vol-bad', State: 'creating' };
    });
    await expect(ctx.cloud.create(spec)).rejects.toThrow(/error state/);
  });

  it('maps EC2 parameter errors to the option they concern', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).rejects(ec2Error('InvalidParameterValue', 'Throughput (MiBps) to iops ratio of 0.5 is too high; maximum is 0.25 MiBps per iops.'));
    const err = await ctx.cloud.create(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('throughput');
    expect((err as Error).message).toContain('maximum is 0.25');
  });
});

describe('EbsCloud.delete, snapshot, markFormatted, retire', () => {
  it('counts a missing volume as deleted', async () => {
    const { cloud, mock } = setup();
    mock.on(DeleteVolumeCommand).rejects(ec2Error('InvalidVolume.NotFound'));
    await expect(cloud.delete('vol-gone')).resolves.toBeUndefined();
  });

  it('reports VolumeInUse as in-use', async () => {
    const { cloud, mock } = setup();
    mock.on(DeleteVolumeCommand).rejects(ec2Error('VolumeInUse', 'Volume vol-1 is currently attached to i-1'));
    const err = await cloud.delete('vol-1').catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('in-use');
  });

  it('snapshots with the name and namespace tags', async () => {
    const { cloud, mock, volumes } = setup({ tag: 'prod' });
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata', 'prod')));
    mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-1' });
    expect(await cloud.snapshot('vol-1', 'final')).toBe('snap-1');
    const input = mock.commandCalls(CreateSnapshotCommand)[0].args[0].input;
    const tags = Object.fromEntries((input.TagSpecifications?.[0].Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ 'berth:name': 'pgdata', 'berth:namespace': 'prod' });
    expect(input.TagSpecifications?.[0].ResourceType).toBe('snapshot');
  });

  it('removes the unformatted marker', async () => {
    const { cloud, mock } = setup();
    mock.on(DeleteTagsCommand).resolves({});
    await cloud.markFormatted('vol-1');
    expect(mock.commandCalls(DeleteTagsCommand)[0].args[0].input).toEqual({ Resources: ['vol-1'], Tags: [{ Key: 'berth:unformatted' }] });
  });

  it('retires: marks first, then drops the ownership tags, so the name is free', async () => {
    const { cloud, mock, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata')));
    mock.on(CreateTagsCommand).callsFake((input) => {
      const v = volumes.get('vol-1') as Volume;
      volumes.set('vol-1', { ...v, Tags: [...(v.Tags ?? []), ...input.Tags] });
      return {};
    });
    mock.on(DeleteTagsCommand).callsFake((input) => {
      const v = volumes.get('vol-1') as Volume;
      const drop = new Set(input.Tags.map((tag: { Key: string }) => tag.Key));
      volumes.set('vol-1', { ...v, Tags: (v.Tags ?? []).filter((tag) => !drop.has(tag.Key)) });
      return {};
    });
    await cloud.retire('vol-1', 'retained');
    const marker = mock.commandCalls(CreateTagsCommand)[0].args[0].input.Tags?.[0];
    expect(marker?.Key).toBe('berth:retired');
    expect(marker?.Value).toMatch(/^retained pgdata \d{4}-/);
    expect(mock.commandCalls(DeleteTagsCommand)[0].args[0].input.Tags).toEqual([{ Key: 'berth:namespace' }, { Key: 'berth:name' }]);
    expect(await cloud.findByName('pgdata')).toBeUndefined();
  });
});

describe('EbsCloud.attach', () => {
  it('reuses an attachment here and makes no AttachVolume call', async () => {
    const { cloud, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdk', State: 'attached' }] }));
    expect(await cloud.attach('vol-1', signal())).toBe('/dev/xvdk');
    expect(mock.commandCalls(AttachVolumeCommand)).toHaveLength(0);
  });

  it('refuses a volume attached to another instance, naming it', async () => {
    const { cloud, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'attached' }] }));
    const err = await cloud.attach('vol-1', signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('attached-elsewhere');
    expect((err as Error).message).toContain(OTHER);
    expect((err as Error).message).toContain('vol-1');
    expect((err as Error).message).toContain('pgdata');
    expect(mock.commandCalls(AttachVolumeCommand)).toHaveLength(0);
  });

  /** An AttachVolume that starts an attachment, seen as `attaching` for `attachingPolls` describes. */
  function attachingFor(ctx: ReturnType<typeof setup>, attachingPolls = 2) {
    return (input: { VolumeId: string; InstanceId: string; Device: string }) => {
      ctx.evolve.set(input.VolumeId, (v, polls) => ({
        ...v,
        State: 'in-use',
        Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: polls > attachingPolls ? 'attached' : 'attaching' }],
      }));
      return { State: 'attaching' };
    };
  }

  function acceptAttach(ctx: ReturnType<typeof setup>, attachingPolls = 2) {
    ctx.mock.on(AttachVolumeCommand).callsFake(attachingFor(ctx, attachingPolls));
  }

  it('attaches at the first free name (skipping the instance\'s own, sdX included) and waits for attached', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx);
    expect(await ctx.cloud.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    const input = ctx.mock.commandCalls(AttachVolumeCommand)[0].args[0].input;
    expect(input).toEqual({ VolumeId: 'vol-1', InstanceId: ME.instanceId, Device: '/dev/xvdg' });
    expect(ctx.mock.commandCalls(DescribeInstancesCommand)[0].args[0].input.InstanceIds).toEqual([ME.instanceId]);
  });

  it('stops polling EC2 once the device shows up on this machine, and leaves the attachment in place', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, Number.MAX_SAFE_INTEGER); // EC2 keeps saying attaching
    const device = await ctx.cloud.attach('vol-1', ctx.signal(), { deviceAppeared: () => new Promise((resolve) => setTimeout(resolve, 30)) });
    expect(device).toBe('/dev/xvdg');
    const describesWhenSeen = ctx.mock.commandCalls(DescribeVolumesCommand).length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(ctx.mock.commandCalls(DetachVolumeCommand)).toHaveLength(0);
    expect(ctx.mock.commandCalls(DescribeVolumesCommand).length).toBeLessThanOrEqual(describesWhenSeen + 1); // one poll may be under way
  });

  it('waits for EC2 when looking for the device fails', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, 2);
    const device = await ctx.cloud.attach('vol-1', ctx.signal(), { deviceAppeared: () => Promise.reject(new Error('not a block device')) });
    expect(device).toBe('/dev/xvdg');
    expect(ctx.volumes.get('vol-1')?.Attachments?.[0]?.State).toBe('attached');
  });

  it('gives concurrent attaches distinct device names', async () => {
    const ctx = setup();
    const ids = Array.from({ length: 6 }, (_, i) => `vol-${i}`);
    for (const id of ids) ctx.volumes.set(id, volume(id, berthTags(id)));
    acceptAttach(ctx, 1);
    const devices = await Promise.all(ids.map((id) => ctx.cloud.attach(id, ctx.signal())));
    expect(new Set(devices).size).toBe(6);
    expect(devices).not.toContain('/dev/xvdf');
  });

  it('moves to the next device name when EC2 says the name is in use', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock
      .on(AttachVolumeCommand)
      .rejectsOnce(ec2Error('InvalidParameterValue', "Invalid value '/dev/xvdg' for unixDevice. Attachment point /dev/xvdg is already in use"))
      .callsFake(attachingFor(ctx));
    expect(await ctx.cloud.attach('vol-1', ctx.signal())).toBe('/dev/xvdh');
    expect(ctx.mock.commandCalls(AttachVolumeCommand).map((call) => call.args[0].input.Device)).toEqual(['/dev/xvdg', '/dev/xvdh']);
    // The refused name stays avoided for the next volume too.
    ctx.volumes.set('vol-2', volume('vol-2', berthTags('b')));
    expect(await ctx.cloud.attach('vol-2', ctx.signal())).not.toBe('/dev/xvdg');
  });

  it('stops after a bounded number of refused device names with a clear error', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      throw ec2Error('InvalidParameterValue', `Invalid value '${input.Device}' for unixDevice. Attachment point ${input.Device} is already in use`);
    });
    const err = await ctx.cloud.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/refused 8 device names/);
    const devices = ctx.mock.commandCalls(AttachVolumeCommand).map((call) => call.args[0].input.Device);
    expect(new Set(devices).size).toBe(8);
  });

  it('reports AttachmentLimitExceeded as capacity', async () => {
    const { cloud, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(AttachVolumeCommand).rejects(ec2Error('AttachmentLimitExceeded', 'You have reached the limit of attachments for this instance'));
    const err = await cloud.attach('vol-1', signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('capacity');
    expect((err as Error).message).toMatch(/limit of attached EBS volumes/);
  });

  it('detaches an attachment stuck in attaching and says so in a timeout error', async () => {
    const ctx = setup({ statusTimeoutMs: 300 });
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, Number.MAX_SAFE_INTEGER);
    ctx.mock.on(DetachVolumeCommand).resolves({ State: 'detaching' });
    const start = Date.now();
    const err = await ctx.cloud.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect(Date.now() - start).toBeLessThan(2000);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toMatch(/stuck attaching/);
    expect((err as Error).message).toMatch(/detach/);
    expect(ctx.mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toMatchObject({ VolumeId: 'vol-1', InstanceId: ME.instanceId, Device: '/dev/xvdg' });
  });

  it('detaches a stuck attachment when the caller\'s signal ends the wait', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, Number.MAX_SAFE_INTEGER);
    ctx.mock.on(DetachVolumeCommand).resolves({});
    const err = await ctx.cloud.attach('vol-1', AbortSignal.timeout(200)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('timeout');
    expect(ctx.mock.commandCalls(DetachVolumeCommand)).toHaveLength(1);
  });
  it('detaches again when the deadline cuts AttachVolume off (EC2 may have started it)', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock.on(AttachVolumeCommand).callsFake(async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    });
    ctx.mock.on(DetachVolumeCommand).resolves({});
    const err = await ctx.cloud.attach('vol-1', AbortSignal.timeout(50)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toMatch(/cancelled/);
    expect(ctx.mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toMatchObject({ VolumeId: 'vol-1', InstanceId: ME.instanceId });
  });
});

describe('EbsCloud.attach: what EC2 said moments ago', () => {
  function acceptAttachAt(ctx: ReturnType<typeof setup>) {
    ctx.mock.on(AttachVolumeCommand).callsFake((input: { VolumeId: string; InstanceId: string; Device: string }) => {
      ctx.evolve.set(input.VolumeId, (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
  }
  const describesBeforeAttach = (ctx: ReturnType<typeof setup>) => {
    const attachAt = ctx.mock.calls().findIndex((call) => call.args[0] instanceof AttachVolumeCommand);
    return ctx.mock.calls().slice(0, attachAt).filter((call) => call.args[0] instanceof DescribeVolumesCommand).length;
  };

  it('attaches right after describe() showed the volume free without describing it again first', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttachAt(ctx);
    await ctx.cloud.describe('vol-1');
    expect(await ctx.cloud.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    expect(describesBeforeAttach(ctx)).toBe(1);
  });

  it('looks again when that answer showed an attachment', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'detaching' }] }));
    await ctx.cloud.describe('vol-1');
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'attached' }] }));
    const err = await ctx.cloud.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('attached-elsewhere');
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(2);
  });

  it('asks for the instance\'s devices once for attaches in quick succession', async () => {
    const ctx = setup();
    const ids = Array.from({ length: 6 }, (_, i) => `vol-${i}`);
    for (const id of ids) ctx.volumes.set(id, volume(id, berthTags(id)));
    acceptAttachAt(ctx);
    const devices: string[] = [];
    for (const id of ids) devices.push(await ctx.cloud.attach(id, ctx.signal()));
    expect(new Set(devices).size).toBe(6);
    expect(ctx.mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
  });
});

describe('EbsCloud.detach', () => {
  it('counts IncorrectState as already detached', async () => {
    const { cloud, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(DetachVolumeCommand).rejects(ec2Error('IncorrectState', "Volume 'vol-1' is in the 'available' state."));
    await expect(cloud.detach('vol-1', {}, signal())).resolves.toBeUndefined();
  });

  it('counts a missing volume as detached', async () => {
    const { cloud, mock, signal } = setup();
    mock.on(DetachVolumeCommand).rejects(ec2Error('InvalidVolume.NotFound'));
    await expect(cloud.detach('vol-gone', {}, signal())).resolves.toBeUndefined();
  });

  it('names this instance and waits until the attachment is gone', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'attached' }] }));
    ctx.mock.on(DetachVolumeCommand).callsFake(() => {
      ctx.evolve.set('vol-1', (v, polls) =>
        polls > 3 ? { ...v, State: 'available', Attachments: [] } : { ...v, Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'detaching' }] },
      );
      return { State: 'detaching' };
    });
    await ctx.cloud.detach('vol-1', {}, ctx.signal());
    expect(ctx.mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toEqual({ VolumeId: 'vol-1', InstanceId: ME.instanceId });
    expect((await ctx.cloud.describe('vol-1'))?.attachments).toEqual([]);
  });

  it('force-detaches from another instance when asked', async () => {
    const { cloud, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(DetachVolumeCommand).resolves({});
    await cloud.detach('vol-1', { instanceId: OTHER, force: true }, signal());
    expect(mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toEqual({ VolumeId: 'vol-1', InstanceId: OTHER, Force: true });
  });

  it('times out naming the volume and the last state when the detach never completes', async () => {
    const { cloud, mock, volumes } = setup({ statusTimeoutMs: 200 });
    volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'detaching' }] }));
    mock.on(DetachVolumeCommand).resolves({});
    const err = await cloud.detach('vol-1', {}, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toContain('vol-1');
    expect((err as Error).message).toContain('detaching');
  });
});
