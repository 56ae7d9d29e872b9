import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DescribeSnapshotsCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { createHash } from 'node:crypto';
import type { CloudConfig } from '../../src/cloud/context';
import { moveToken } from '../../src/cloud/create-input';
import { ZoneMover } from '../../src/cloud/zone-move';
import type { BerthError } from '../../src/common/errors';
import { berthTags, ec2Error, fakeCloudParts, tagsOf, volume } from '../support/fake-ec2';

function setup(config: Partial<CloudConfig> = {}) {
  const fake = fakeCloudParts(config);
  return { ...fake, mover: new ZoneMover(fake.parts) };
}

describe('ZoneMover.snapshot and retire', () => {
  it('snapshots with the name and namespace tags', async () => {
    const { mover, mock, volumes } = setup({ tag: 'prod' });
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata', 'prod')));
    mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-1' });
    expect(await mover.snapshot('vol-1', 'final')).toBe('snap-1');
    const input = mock.commandCalls(CreateSnapshotCommand)[0].args[0].input;
    const tags = Object.fromEntries((input.TagSpecifications?.[0].Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags).toMatchObject({ 'berth:name': 'pgdata', 'berth:namespace': 'prod' });
    expect(input.TagSpecifications?.[0].ResourceType).toBe('snapshot');
  });


  it('retires: marks first, then drops the ownership tags, so the name is free', async () => {
    const { mover, lookups, mock, volumes } = setup();
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
    await mover.retire('vol-1', 'retained');
    const marker = mock.commandCalls(CreateTagsCommand)[0].args[0].input.Tags?.[0];
    expect(marker?.Key).toBe('berth:retired');
    expect(marker?.Value).toMatch(/^retained pgdata \d{4}-/);
    expect(mock.commandCalls(DeleteTagsCommand)[0].args[0].input.Tags).toEqual([{ Key: 'berth:namespace' }, { Key: 'berth:name' }]);
    expect(await lookups.findByName('pgdata')).toBeUndefined();
  });
});

describe('ZoneMover.moveToZone', () => {
  /** Tagging as EC2 does it, so that retire() can be followed by a lookup. */
  function acceptTagging(ctx: ReturnType<typeof setup>) {
    ctx.mock.on(CreateTagsCommand).callsFake((input) => {
      const v = ctx.volumes.get(input.Resources[0]) as Volume;
      ctx.volumes.set(input.Resources[0], { ...v, Tags: [...(v.Tags ?? []), ...input.Tags] });
      return {};
    });
    ctx.mock.on(DeleteTagsCommand).callsFake((input) => {
      const v = ctx.volumes.get(input.Resources[0]) as Volume;
      const drop = new Set(input.Tags.map((tag: { Key: string }) => tag.Key));
      ctx.volumes.set(input.Resources[0], { ...v, Tags: (v.Tags ?? []).filter((tag) => !drop.has(tag.Key)) });
      return {};
    });
  }

  /** A snapshot that completes at the third look, and CreateVolume making `id` from the input, creating at first. */
  function acceptMove(ctx: ReturnType<typeof setup>, id = 'vol-moved') {
    ctx.mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-1' });
    ctx.mock
      .on(DescribeSnapshotsCommand)
      .resolvesOnce({ Snapshots: [{ SnapshotId: 'snap-1', State: 'pending' }] })
      .resolvesOnce({ Snapshots: [] })
      .resolves({ Snapshots: [{ SnapshotId: 'snap-1', State: 'completed' }] });
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      ctx.volumes.set(id, volume(id, tagsOf(input), { State: 'creating', AvailabilityZone: input.AvailabilityZone, SnapshotId: input.SnapshotId }));
      ctx.evolve.set(id, (v, polls) => (polls >= 2 ? { ...v, State: 'available' } : v));
      return { VolumeId: id, State: 'creating' };
    });
    acceptTagging(ctx);
  }

  const gp3 = (extra: Partial<Volume> = {}) =>
    volume('vol-old', berthTags('pgdata', 'default', { 'berth:crossAZ': 'snapshot', 'aws:backup': 'x' }), {
      Size: 50,
      Iops: 4000,
      Throughput: 250,
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/k',
      ...extra,
    });

  it('snapshots, waits for the snapshot, creates the volume there from it with the same options, and retires the old one', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-old', gp3());
    acceptMove(ctx);
    const old = (await ctx.lookups.describe('vol-old'))!;
    const moved = await ctx.mover.moveToZone(old, 'us-east-1b');
    expect(moved).toMatchObject({ volumeId: 'vol-moved', availabilityZone: 'us-east-1b', state: 'available', name: 'pgdata' });
    expect(ctx.mock.commandCalls(DescribeSnapshotsCommand)).toHaveLength(3);
    const input = ctx.mock.commandCalls(CreateVolumeCommand)[0].args[0].input;
    expect(input).toMatchObject({
      AvailabilityZone: 'us-east-1b',
      SnapshotId: 'snap-1',
      Size: 50,
      VolumeType: 'gp3',
      Iops: 4000,
      Throughput: 250,
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/k',
      ClientToken: moveToken('default', 'pgdata', 'vol-old', 'us-east-1b'),
    });
    expect(input.ClientToken).toBe(createHash('sha256').update('default\0pgdata\0move\0vol-old\0us-east-1b').digest('hex'));
    const tags = tagsOf(input);
    expect(tags).toMatchObject({ 'berth:name': 'pgdata', 'berth:crossAZ': 'snapshot', 'berth:movedFrom': 'vol-old' });
    expect(Object.keys(tags).filter((key) => key.startsWith('aws:') || key === 'berth:unformatted')).toEqual([]);
    expect((await ctx.lookups.describe('vol-old'))?.tags['berth:retired']).toMatch(/^moved pgdata /);
    expect((await ctx.lookups.findByName('pgdata'))?.volumeId).toBe('vol-moved');
  });

  it('sends IOPS and throughput only for the types CreateVolume takes them for', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-old', gp3({ VolumeType: 'gp2', Iops: 150, Throughput: undefined, Encrypted: false, KmsKeyId: undefined }));
    acceptMove(ctx);
    await ctx.mover.moveToZone((await ctx.lookups.describe('vol-old'))!, 'us-east-1b');
    const input = ctx.mock.commandCalls(CreateVolumeCommand)[0].args[0].input;
    expect(input.VolumeType).toBe('gp2');
    expect(input.Encrypted).toBe(false);
    for (const absent of ['Iops', 'Throughput', 'KmsKeyId']) expect(input).not.toHaveProperty(absent);
  });

  it('uses the volume another host moved there when the token mismatches', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-old', gp3());
    acceptMove(ctx);
    ctx.mock.on(CreateVolumeCommand).callsFake(() => {
      ctx.volumes.set('vol-theirs', volume('vol-theirs', berthTags('pgdata', 'default', { 'berth:movedFrom': 'vol-old' }), { AvailabilityZone: 'us-east-1b' }));
      throw ec2Error('IdempotentParameterMismatch');
    });
    const moved = await ctx.mover.moveToZone((await ctx.lookups.describe('vol-old'))!, 'us-east-1b');
    expect(moved.volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(CreateTagsCommand)[0].args[0].input.Resources).toEqual(['vol-old']);
  });

  it('fails on a token mismatch when no other host\'s move is to be found, and retires nothing', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-old', gp3());
    acceptMove(ctx);
    ctx.mock.on(CreateVolumeCommand).rejects(ec2Error('IdempotentParameterMismatch', 'token reused'));
    const err = await ctx.mover.moveToZone((await ctx.lookups.describe('vol-old'))!, 'us-east-1b').catch((e: unknown) => e);
    expect((err as Error).message).toContain('CreateVolume pgdata in us-east-1b');
    expect(ctx.mock.commandCalls(CreateTagsCommand)).toHaveLength(0);
  });

  it('fails when the snapshot fails, creating nothing', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-old', gp3());
    acceptMove(ctx);
    ctx.mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: 'snap-1', State: 'error' }] });
    const err = await ctx.mover.moveToZone((await ctx.lookups.describe('vol-old'))!, 'us-east-1b').catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toBe('snapshot snap-1 failed');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(0);
  });
});
