/**
 * local-ec2 through the real @aws-sdk/client-ec2: volumes (create options and validation, idempotent
 * ClientToken, describe filters and pagination, delete), tags, modifications, snapshots, availability
 * zones, unknown actions and malformed ids.
 */
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  type CreateVolumeCommandInput,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  type EC2Client,
  ModifyVolumeCommand,
} from '@aws-sdk/client-ec2';
import { SignatureV4 } from '@smithy/signature-v4';
import { describeAsRoot } from '../support/privileges';
import { type LocalEc2 } from '../../src/localec2/server';
import { REGION, TEST_KEY, Workspace, ec2Client, ec2Error, instanceId } from './localec2-support';
import { waitFor } from '../support/poll';

const ZONE = 'us-east-1a';
const GiB = 1024 ** 3;

describeAsRoot('local-ec2: volumes, tags, modifications and snapshots', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = workspace.dir('data');
    endpoint = await workspace.start({ dataDir, instances: [{ id: instanceId(1), az: ZONE }] });
    ec2 = ec2Client(endpoint.ec2Url);
  });

  afterAll(async () => {
    ec2?.destroy();
    await workspace.teardown();
  });

  const create = (input: Partial<CreateVolumeCommandInput> = {}) => ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 1, ...input }));
  const describe1 = async (volumeId: string) => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0];

  describe('CreateVolume', () => {
    it('creates a sparse volume that is creating in the answer and available right after', async () => {
      const volume = await create({ Size: 16, VolumeType: 'gp3' });
      expect(volume.VolumeId).toMatch(/^vol-[0-9a-f]{17}$/);
      expect(volume.State).toBe('creating');
      expect(volume).toMatchObject({ Size: 16, VolumeType: 'gp3', Iops: 3000, Throughput: 125, Encrypted: false, AvailabilityZone: ZONE });
      expect(volume.CreateTime).toBeInstanceOf(Date);
      expect((await describe1(volume.VolumeId!)).State).toBe('available');
      const file = `${dataDir}/volumes/${volume.VolumeId}.img`;
      const stat = fs.statSync(file);
      expect(stat.size).toBe(16 * GiB);
      expect(stat.blocks * 512).toBeLessThan(1024 * 1024);
    });

    it('takes every option: type, iops, throughput, encryption with a key, tags', async () => {
      const volume = await create({
        Size: 100,
        VolumeType: 'io2',
        Iops: 5000,
        Encrypted: true,
        KmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'db' }, { Key: 'team', Value: 'storage' }] }],
      });
      const described = await describe1(volume.VolumeId!);
      expect(described).toMatchObject({ Size: 100, VolumeType: 'io2', Iops: 5000, Encrypted: true });
      expect(described.KmsKeyId).toBe('arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
      expect(described.Tags).toEqual(expect.arrayContaining([{ Key: 'Name', Value: 'db' }, { Key: 'team', Value: 'storage' }]));
      const gp3 = await create({ Size: 100, VolumeType: 'gp3', Iops: 16000, Throughput: 1000 });
      expect(gp3).toMatchObject({ Iops: 16000, Throughput: 1000 });
      const gp2 = await create({ Size: 100 });
      expect(gp2).toMatchObject({ VolumeType: 'gp2', Iops: 300 });
      const encryptedDefaultKey = await create({ Encrypted: true });
      expect(encryptedDefaultKey.KmsKeyId).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\//);
    });

    it.each([
      [{ Size: 0 }, 'InvalidParameterValue', /too small.*gp2.*size/],
      [{ Size: 16385 }, 'InvalidParameterValue', /too large.*maximum is 16384GiB/],
      [{ Size: 65537, VolumeType: 'gp3' }, 'InvalidParameterValue', /maximum is 65536GiB/],
      [{ Size: 3, VolumeType: 'io1', Iops: 100 }, 'InvalidParameterValue', /minimum is 4GiB/],
      [{ Size: 100, VolumeType: 'st1' }, 'InvalidParameterValue', /minimum is 125GiB/],
      [{ Size: 1025, VolumeType: 'standard' }, 'InvalidParameterValue', /maximum is 1024GiB/],
      [{ Size: 10, VolumeType: 'gp4' }, 'InvalidParameterValue', /volumeType/],
      [{ Size: 10, VolumeType: 'io1' }, 'MissingParameter', /iops/],
      [{ Size: 10, VolumeType: 'io2' }, 'MissingParameter', /iops/],
      [{ Size: 10, VolumeType: 'gp2', Iops: 3000 }, 'InvalidParameterCombination', /iops is not supported for gp2/],
      [{ Size: 100, VolumeType: 'io1', Iops: 1000, Throughput: 200 }, 'InvalidParameterCombination', /throughput is not supported for io1/],
      [{ Size: 100, VolumeType: 'gp3', Iops: 2999 }, 'InvalidParameterValue', /iops.*between 3000 and 80000/],
      [{ Size: 1000, VolumeType: 'gp3', Iops: 80001 }, 'InvalidParameterValue', /iops.*between 3000 and 80000/],
      [{ Size: 10, VolumeType: 'gp3', Iops: 5001 }, 'InvalidParameterValue', /ratio.*maximum is 500/],
      [{ Size: 100, VolumeType: 'gp3', Throughput: 124 }, 'InvalidParameterValue', /throughput.*between 125 and 2000/],
      [{ Size: 1000, VolumeType: 'gp3', Iops: 80000, Throughput: 2001 }, 'InvalidParameterValue', /throughput.*between 125 and 2000/],
      [{ Size: 100, VolumeType: 'gp3', Throughput: 751 }, 'InvalidParameterValue', /Throughput to iops ratio.*0\.25/],
      [{ Size: 10, VolumeType: 'io1', Iops: 501 }, 'InvalidParameterValue', /ratio.*maximum is 50\./],
      [{ Size: 100, VolumeType: 'io1', Iops: 64001 }, 'InvalidParameterValue', /between 100 and 64000/],
      [{ Size: 10, VolumeType: 'io2', Iops: 10001 }, 'InvalidParameterValue', /ratio.*maximum is 1000\./],
      [{ Size: 1000, VolumeType: 'io2', Iops: 256001 }, 'InvalidParameterValue', /between 100 and 256000/],
      [{ Size: 10, VolumeType: 'io1', Iops: 99 }, 'InvalidParameterValue', /between 100 and 64000/],
      [{ Size: 1, KmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }, 'InvalidParameterDependency', /Encrypted/],
      [{ Size: 1, AvailabilityZone: 'us-west-2a' }, 'InvalidParameterValue', /availability zone/],
      [{ Size: 1, AvailabilityZone: 'us-east-1z' }, 'InvalidParameterValue', /Invalid availability zone: \[us-east-1z\]/],
      [{ Size: 1, AvailabilityZone: undefined }, 'MissingParameter', /AvailabilityZone/],
      [{ Size: undefined }, 'MissingParameter', /Size/],
      [{ Size: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }] }, 'InvalidParameterValue', /taggable resource type/],
      [{ Size: 1, TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'aws:x', Value: 'b' }] }] }, 'InvalidParameterValue', /reserved/],
    ] as [Partial<CreateVolumeCommandInput>, string, RegExp][])('refuses %j with %s', async (input, code, message) => {
      const error = await ec2Error(create(input));
      expect(error.name).toBe(code);
      expect(error.message).toMatch(message);
      expect(error.status).toBe(400);
    });

    it('accepts the largest sizes and rates AWS allows (checked with DryRun)', async () => {
      for (const input of [
        { Size: 65536, VolumeType: 'gp3', Iops: 80000, Throughput: 2000 },
        { Size: 16384, VolumeType: 'gp2' },
        { Size: 16384, VolumeType: 'io1', Iops: 64000 },
        { Size: 65536, VolumeType: 'io2', Iops: 256000 },
        { Size: 16384, VolumeType: 'st1' },
        { Size: 125, VolumeType: 'sc1' },
        { Size: 1024, VolumeType: 'standard' },
      ] as Partial<CreateVolumeCommandInput>[]) {
        const error = await ec2Error(create({ ...input, DryRun: true }));
        expect([input, error.name, error.status]).toEqual([input, 'DryRunOperation', 412]);
      }
    });

    it('answers a repeated ClientToken with the same volume, even after it was deleted', async () => {
      const input = { Size: 2, VolumeType: 'gp3' as const, ClientToken: 'token-same', TagSpecifications: [{ ResourceType: 'volume' as const, Tags: [{ Key: 'Name', Value: 'same' }] }] };
      const first = await create(input);
      const second = await create(input);
      expect(second.VolumeId).toBe(first.VolumeId);
      const named = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:Name', Values: ['same'] }] }));
      expect(named.Volumes).toHaveLength(1);
      await ec2.send(new DeleteVolumeCommand({ VolumeId: first.VolumeId }));
      const afterDelete = await create(input);
      expect(afterDelete.VolumeId).toBe(first.VolumeId);
      expect((await ec2Error(describe1(first.VolumeId!))).name).toBe('InvalidVolume.NotFound');
    });

    it('refuses a ClientToken reused with different parameters', async () => {
      await create({ Size: 2, ClientToken: 'token-mismatch' });
      const error = await ec2Error(create({ Size: 3, ClientToken: 'token-mismatch' }));
      expect(error.name).toBe('IdempotentParameterMismatch');
    });
  });

  describe('DescribeVolumes', () => {
    const batch: string[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 12; i += 1) {
        const volume = await create({
          Size: 1 + (i % 3),
          AvailabilityZone: i % 2 === 0 ? 'us-east-1a' : 'us-east-1b',
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'batch', Value: 'page' }, { Key: 'index', Value: `i${i}` }] }],
        });
        batch.push(volume.VolumeId!);
      }
    });

    it('filters by tag:K, tag-key, status, availability-zone, volume-id, size and wildcards', async () => {
      const filtered = async (Name: string, Values: string[]) =>
        (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:batch', Values: ['page'] }, { Name, Values }] }))).Volumes!.map((v) => v.VolumeId).sort();
      expect(await filtered('tag:index', ['i3', 'i4'])).toEqual([batch[3], batch[4]].sort());
      expect(await filtered('tag-key', ['index'])).toHaveLength(12);
      expect(await filtered('status', ['available'])).toHaveLength(12);
      expect(await filtered('status', ['in-use'])).toHaveLength(0);
      expect(await filtered('availability-zone', ['us-east-1b'])).toHaveLength(6);
      expect(await filtered('volume-id', [batch[7]])).toEqual([batch[7]]);
      expect(await filtered('size', ['3'])).toHaveLength(4);
      expect(await filtered('tag:index', ['i1*'])).toEqual([batch[1], batch[10], batch[11]].sort());
      expect(await filtered('tag:index', ['i?'])).toHaveLength(10);
    });

    it('refuses more than 200 filter values in one call, as EC2 does, and answers a volume-id filter without the ids that do not exist', async () => {
      const ids = (count: number) => Array.from({ length: count }, (_, i) => `vol-${i.toString(16).padStart(17, '0')}`);
      const described = (Values: string[]) => ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values }] }));
      expect((await described([...ids(198), batch[2]])).Volumes!.map((v) => v.VolumeId)).toEqual([batch[2]]);
      expect(await ec2Error(described(ids(201)))).toMatchObject({ name: 'FilterLimitExceeded', message: 'The maximum number of filter values specified on a single call is 200' });
    });

    it('pages with MaxResults and NextToken without skipping or repeating', async () => {
      const seen: string[] = [];
      let NextToken: string | undefined;
      let pages = 0;
      do {
        const page = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:batch', Values: ['page'] }], MaxResults: 5, NextToken }));
        expect(page.Volumes!.length).toBeLessThanOrEqual(5);
        seen.push(...page.Volumes!.map((volume) => volume.VolumeId!));
        NextToken = page.NextToken;
        pages += 1;
      } while (NextToken);
      expect(pages).toBe(3);
      expect(seen.sort()).toEqual([...batch].sort());
    });

    it('refuses MaxResults below 5 and together with VolumeIds, unknown filters and unknown ids; caps pages at 500', async () => {
      expect((await ec2Error(ec2.send(new DescribeVolumesCommand({ MaxResults: 4 })))).name).toBe('InvalidParameterValue');
      const large = await ec2.send(new DescribeVolumesCommand({ MaxResults: 1000, Filters: [{ Name: 'tag:batch', Values: ['page'] }] }));
      expect(large.Volumes).toHaveLength(12);
      expect(large.NextToken).toBeUndefined();
      expect((await ec2Error(ec2.send(new DescribeVolumesCommand({ MaxResults: 5, VolumeIds: [batch[0]] })))).name).toBe('InvalidParameterCombination');
      expect((await ec2Error(ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })))).name).toBe('InvalidParameterValue');
      const missing = await ec2Error(ec2.send(new DescribeVolumesCommand({ VolumeIds: [batch[0], 'vol-0123456789abcdef0'] })));
      expect(missing).toMatchObject({ name: 'InvalidVolume.NotFound', message: expect.stringContaining('vol-0123456789abcdef0') });
    });

    it('is regional: a volume of us-east-1 is not seen from eu-west-1', async () => {
      const elsewhere = ec2Client(endpoint.ec2Url, { region: 'eu-west-1' });
      try {
        expect((await ec2Error(elsewhere.send(new DescribeVolumesCommand({ VolumeIds: [batch[0]] })))).name).toBe('InvalidVolume.NotFound');
        const created = await elsewhere.send(new CreateVolumeCommand({ AvailabilityZone: 'eu-west-1c', Size: 1 }));
        expect(created.AvailabilityZone).toBe('eu-west-1c');
        expect((await ec2Error(describe1(created.VolumeId!))).name).toBe('InvalidVolume.NotFound');
      } finally {
        elsewhere.destroy();
      }
    });
  });

  it('deletes a volume: deleting, then gone with its file', async () => {
    const volume = await create();
    await ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId }));
    expect((await ec2Error(describe1(volume.VolumeId!))).name).toBe('InvalidVolume.NotFound');
    expect(fs.existsSync(`${dataDir}/volumes/${volume.VolumeId}.img`)).toBe(false);
    expect((await ec2Error(ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId })))).name).toBe('InvalidVolume.NotFound');
  });

  it('creates, replaces and deletes tags (with value matching), on volumes, snapshots and instances', async () => {
    const volume = await create();
    const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
    const resources = [volume.VolumeId!, snapshot.SnapshotId!, instanceId(1)];
    await ec2.send(new CreateTagsCommand({ Resources: resources, Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }, { Key: 'c', Value: '' }] }));
    await ec2.send(new CreateTagsCommand({ Resources: [volume.VolumeId!], Tags: [{ Key: 'a', Value: 'one' }] }));
    expect((await describe1(volume.VolumeId!)).Tags).toEqual(expect.arrayContaining([{ Key: 'a', Value: 'one' }, { Key: 'b', Value: '2' }, { Key: 'c', Value: '' }]));
    await ec2.send(new DeleteTagsCommand({ Resources: [volume.VolumeId!], Tags: [{ Key: 'a', Value: 'wrong' }, { Key: 'b' }] }));
    expect((await describe1(volume.VolumeId!)).Tags).toEqual(expect.arrayContaining([{ Key: 'a', Value: 'one' }, { Key: 'c', Value: '' }]));
    expect((await describe1(volume.VolumeId!)).Tags).toHaveLength(2);
    const snapshots = await ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:b', Values: ['2'] }] }));
    expect(snapshots.Snapshots!.map((s) => s.SnapshotId)).toEqual([snapshot.SnapshotId]);
    expect((await ec2Error(ec2.send(new CreateTagsCommand({ Resources: ['vol-0123456789abcdef0'], Tags: [{ Key: 'a', Value: '1' }] })))).name).toBe('InvalidVolume.NotFound');
    expect((await ec2Error(ec2.send(new CreateTagsCommand({ Resources: ['bucket-1'], Tags: [{ Key: 'a', Value: '1' }] })))).name).toBe('InvalidID');
    const tooMany = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
    expect((await ec2Error(ec2.send(new CreateTagsCommand({ Resources: [volume.VolumeId!], Tags: tooMany })))).name).toBe('TagLimitExceeded');
  });

  it('modifies a volume: modifying, then the new size and type, completed; refuses shrinking and no-ops', async () => {
    const volume = await create({ Size: 1, VolumeType: 'gp2' });
    const modification = await ec2.send(new ModifyVolumeCommand({ VolumeId: volume.VolumeId, Size: 10, VolumeType: 'gp3', Iops: 4000 }));
    expect(modification.VolumeModification).toMatchObject({ ModificationState: 'modifying', OriginalSize: 1, TargetSize: 10, TargetVolumeType: 'gp3', TargetIops: 4000, TargetThroughput: 125 });
    expect(await describe1(volume.VolumeId!)).toMatchObject({ Size: 10, VolumeType: 'gp3', Iops: 4000, Throughput: 125 });
    const described = await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volume.VolumeId!] }));
    expect(described.VolumesModifications![0]).toMatchObject({ ModificationState: 'completed', Progress: 100 });
    expect(fs.statSync(`${dataDir}/volumes/${volume.VolumeId}.img`).size).toBe(10 * GiB);
    expect((await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: volume.VolumeId, Size: 9 })))).name).toBe('InvalidParameterValue');
    expect((await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: volume.VolumeId, Size: 10 })))).name).toBe('InvalidParameterCombination');
    expect((await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: volume.VolumeId, Iops: 2000 })))).name).toBe('InvalidParameterValue');
    const other = await create();
    expect((await ec2Error(ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [other.VolumeId!] })))).name).toBe('InvalidVolumeModification.NotFound');
  });

  it('snapshots copy the data; a volume made from a snapshot has it; DeleteSnapshot removes it', async () => {
    const volume = await create({ Size: 1 });
    const file = `${dataDir}/volumes/${volume.VolumeId}.img`;
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, 'snapshot me', 512 * 1024 * 1024);
    fs.closeSync(fd);
    const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId, Description: 'before upgrade', TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'k', Value: 'v' }] }] }));
    expect(snapshot).toMatchObject({ State: 'pending', VolumeId: volume.VolumeId, VolumeSize: 1, Description: 'before upgrade', OwnerId: '123456789012' });
    expect(snapshot.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    const described = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] }));
    expect(described.Snapshots![0]).toMatchObject({ State: 'completed', Progress: '100%', Tags: [{ Key: 'k', Value: 'v' }] });
    const mine = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'volume-id', Values: [volume.VolumeId!] }] }));
    expect(mine.Snapshots).toHaveLength(1);

    const restored = await create({ SnapshotId: snapshot.SnapshotId, Size: undefined });
    expect(restored).toMatchObject({ Size: 1, SnapshotId: snapshot.SnapshotId });
    const bigger = await create({ SnapshotId: snapshot.SnapshotId, Size: 2 });
    expect(readAt(`${dataDir}/volumes/${bigger.VolumeId}.img`, 512 * 1024 * 1024, 11)).toBe('snapshot me');
    expect(fs.statSync(`${dataDir}/volumes/${bigger.VolumeId}.img`).size).toBe(2 * GiB);
    expect((await ec2Error(create({ SnapshotId: snapshot.SnapshotId, Size: 1, VolumeType: 'io1' }))).name).toBe('InvalidParameterValue');

    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId }));
    expect((await ec2Error(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] })))).name).toBe('InvalidSnapshot.NotFound');
    expect((await ec2Error(create({ SnapshotId: snapshot.SnapshotId }))).name).toBe('InvalidSnapshot.NotFound');
  }, 30_000);

  it('describes the region\'s availability zones', async () => {
    const zones = await ec2.send(new DescribeAvailabilityZonesCommand({}));
    expect(zones.AvailabilityZones!.map((zone) => zone.ZoneName)).toContain('us-east-1a');
    expect(zones.AvailabilityZones![0]).toMatchObject({ RegionName: REGION, State: 'available', ZoneId: 'use1-az1' });
    const one = await ec2.send(new DescribeAvailabilityZonesCommand({ ZoneNames: ['us-east-1c'] }));
    expect(one.AvailabilityZones!.map((zone) => zone.ZoneName)).toEqual(['us-east-1c']);
  });

  it('refuses malformed ids and unknown actions and parameters', async () => {
    expect((await ec2Error(describe1('vol-xyz'))).name).toBe('InvalidVolumeID.Malformed');
    expect((await ec2Error(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ['snap-1'] })))).name).toBe('InvalidSnapshotID.Malformed');
    expect((await ec2Error(ec2.send(new DeleteVolumeCommand({ VolumeId: 'volume-1' })))).name).toBe('InvalidVolumeID.Malformed');
    const unknown = await signedCall(endpoint.ec2Url, 'Action=RunInstances&Version=2016-11-15&ImageId=ami-1');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('<Code>InvalidAction</Code>');
    expect(unknown.body).toMatch(/<Response><Errors><Error><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>/);
    const typo = await signedCall(endpoint.ec2Url, 'Action=DescribeVolumes&Version=2016-11-15&VolumeIds.1=vol-1');
    expect(typo.body).toContain('<Code>UnknownParameter</Code>');
  });

  it('answers in EC2\'s XML namespace with a requestId', async () => {
    const answer = await signedCall(endpoint.ec2Url, 'Action=DescribeVolumes&Version=2016-11-15&MaxResults=5');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<DescribeVolumesResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/"><requestId>[0-9a-f-]{36}<\/requestId><volumeSet><item><volumeId>/);
  });

  it('waits for a delayed create: creating, then available', async () => {
    const slowDir = workspace.dir('slow');
    const slow = await workspace.start({ dataDir: slowDir, delays: { create: 300 } });
    const client = ec2Client(slow.ec2Url);
    try {
      const volume = await client.send(new CreateVolumeCommand({ AvailabilityZone: slow.instances[0].az, Size: 1 }));
      const state = async () => (await client.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }))).Volumes![0].State;
      expect(await state()).toBe('creating');
      await waitFor('available', async () => ((await state()) === 'available' ? true : undefined), { timeoutMs: 3000, intervalMs: 50 });
    } finally {
      client.destroy();
      await slow.close();
    }
  });
});

function readAt(file: string, offset: number, length: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, offset);
    return buffer.toString();
  } finally {
    fs.closeSync(fd);
  }
}

type Bytes = string | ArrayBuffer | ArrayBufferView;
const toBinary = (data: Bytes) => (typeof data === 'string' ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data));

/** node:crypto in the shape SignatureV4 wants for its hash constructor. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: Bytes) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBinary(secret));
  }
  update(data: Bytes): void {
    this.hash.update(toBinary(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** A raw Query API call signed by the SDK's own signer (@smithy/signature-v4), to look at the wire format. */
async function signedCall(url: string, body: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const signer = new SignatureV4({ credentials: TEST_KEY, region: REGION, service: 'ec2', sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: target.hostname,
    port: Number(target.port),
    path: '/',
    query: {},
    headers: { host: target.host, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const response = await fetch(url, { method: 'POST', headers: signed.headers, body });
  return { status: response.status, body: await response.text() };
}
