import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { ListingThreadUnavailable } from '../../src/cloud/listing-thread';
import { LISTING_REUSE_MS, RECENT_DESCRIBE_MS, VolumeLookups, type PagedQuery } from '../../src/cloud/lookups';
import type { CloudVolume } from '../../src/cloud/types';
import { BerthError } from '../../src/common/errors';
import { ME, berthTags, ec2Error, fakeCloudParts, fakeEc2, volume } from '../support/fake-ec2';

const setup = fakeCloudParts;

describe('VolumeLookups', () => {
  it('finds a volume by its namespace and name tags, region-wide', async () => {
    const { lookups, mock, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { AvailabilityZone: 'us-east-1c' }));
    volumes.set('vol-2', volume('vol-2', berthTags('other')));
    const found = await lookups.findByName('pgdata');
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
    const { lookups, volumes, lines } = setup();
    volumes.set('vol-new', volume('vol-new', berthTags('pgdata'), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
    volumes.set('vol-old', volume('vol-old', berthTags('pgdata'), { CreateTime: new Date('2026-06-01T00:00:00Z') }));
    expect((await lookups.findByName('pgdata'))?.volumeId).toBe('vol-old');
    const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.level === 'warn');
    expect(warning.using).toBe('vol-old');
    expect(warning.others).toEqual(['vol-new']);
  });

  it('skips deleting and retired volumes', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { State: 'deleting' }));
    volumes.set('vol-2', volume('vol-2', berthTags('pgdata', 'default', { 'berth:retired': 'retained pgdata 2026' })));
    expect(await lookups.findByName('pgdata')).toBeUndefined();
  });

  it('adopts a REX-Ray volume by its Name tag only with adoptRexray, and never one with berth tags', async () => {
    const plain = setup({ tag: 'prod' });
    plain.volumes.set('vol-rr', volume('vol-rr', { Name: 'prod/legacy' }));
    expect(await plain.lookups.findByName('legacy')).toBeUndefined();

    const adopting = setup({ tag: 'prod', adoptRexray: true });
    adopting.volumes.set('vol-rr', volume('vol-rr', { Name: 'prod/legacy' }));
    adopting.volumes.set('vol-mixed', volume('vol-mixed', { Name: 'prod/legacy', 'berth:generation': '1' }));
    const found = await adopting.lookups.findByName('legacy');
    expect(found?.volumeId).toBe('vol-rr');
    expect(found?.owner).toBe('rexray');
    expect(found?.unformatted).toBe(false);
    const nameFilter = adopting.mock.commandCalls(DescribeVolumesCommand)[1].args[0].input.Filters;
    expect(nameFilter).toEqual([{ Name: 'tag:Name', Values: ['prod/legacy'] }]);
  });

  it('lists every page of the namespace with MaxResults 500', async () => {
    const { lookups, mock } = setup();
    const page = (ids: string[], NextToken?: string) => ({ Volumes: ids.map((id) => volume(id, berthTags(`name-${id}`))), NextToken });
    mock
      .on(DescribeVolumesCommand)
      .resolvesOnce(page(['vol-1', 'vol-2'], 't1'))
      .resolvesOnce(page(['vol-3'], 't2'))
      .resolvesOnce(page(['vol-4']));
    const listed = await lookups.listVolumes();
    expect(listed.map((v) => v.volumeId).sort()).toEqual(['vol-1', 'vol-2', 'vol-3', 'vol-4']);
    const inputs = mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input);
    expect(inputs.map((input) => input.NextToken)).toEqual([undefined, 't1', 't2']);
    expect(inputs.every((input) => input.MaxResults === 500)).toBe(true);
    expect(inputs[0].Filters).toEqual([{ Name: 'tag:berth:namespace', Values: ['default'] }]);
  });

  it('lists REX-Ray volumes of the namespace too with adoptRexray', async () => {
    const { lookups, volumes } = setup({ tag: 'prod', adoptRexray: true });
    volumes.set('vol-1', volume('vol-1', berthTags('a', 'prod')));
    volumes.set('vol-2', volume('vol-2', { Name: 'prod/b' }));
    volumes.set('vol-3', volume('vol-3', { Name: 'staging/c' }));
    expect((await lookups.listVolumes()).map((v) => `${v.name}:${v.owner}`).sort()).toEqual(['a:berth', 'b:rexray']);
  });

  it('batches 10 concurrent describe() calls into one DescribeVolumes, by a volume-id filter (EC2\'s larger request bucket)', async () => {
    const { lookups, mock, volumes } = setup();
    const ids = Array.from({ length: 10 }, (_, i) => `vol-${i}`);
    for (const id of ids) volumes.set(id, volume(id, berthTags(id)));
    const described = await Promise.all(ids.map((id) => lookups.describe(id)));
    expect(described.map((v) => v?.volumeId)).toEqual(ids);
    const calls = mock.commandCalls(DescribeVolumesCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ Filters: [{ Name: 'volume-id', Values: ids }] });
  });

  it('never puts more ids in one call than EC2 takes filter values (200)', async () => {
    const { lookups, mock, volumes } = setup();
    const ids = Array.from({ length: 250 }, (_, i) => `vol-${i}`);
    for (const id of ids) volumes.set(id, volume(id, berthTags(id)));
    await Promise.all(ids.map((id) => lookups.describe(id)));
    const sizes = mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input.Filters![0].Values!.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(200);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
  });

  it('answers undefined for a missing volume without failing the others in its batch', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    const [a, missing] = await Promise.all([lookups.describe('vol-1'), lookups.describe('vol-missing')]);
    expect(a?.name).toBe('a');
    expect(missing).toBeUndefined();
  });
});

describe('VolumeLookups: one volume per name, and required volumes', () => {
  it('lists one volume per name: berth\'s before REX-Ray\'s, then the oldest', async () => {
    const { lookups, volumes } = setup({ tag: 'prod', adoptRexray: true });
    volumes.set('vol-rr', volume('vol-rr', { Name: 'prod/db' }, { CreateTime: new Date('2026-01-01T00:00:00Z') }));
    volumes.set('vol-berth', volume('vol-berth', berthTags('db', 'prod'), { CreateTime: new Date('2026-06-01T00:00:00Z') }));
    volumes.set('vol-new', volume('vol-new', berthTags('cache', 'prod'), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
    volumes.set('vol-old', volume('vol-old', berthTags('cache', 'prod'), { CreateTime: new Date('2026-06-01T00:00:00Z') }));
    const listed = await lookups.listVolumes();
    expect(Object.fromEntries(listed.map((v) => [v.name, v.volumeId]))).toEqual({ db: 'vol-berth', cache: 'vol-old' });
    expect((await lookups.findByName('db'))?.volumeId).toBe('vol-berth');
  });

  it('requireVolume fails with not-found, naming the action, for a missing or deleting volume', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-going', volume('vol-going', berthTags('a'), { State: 'deleting' }));
    for (const id of ['vol-missing', 'vol-going']) {
      const err = await lookups.requireVolume(id, 'attach').catch((e: unknown) => e);
      expect((err as BerthError).code).toBe('not-found');
      expect((err as Error).message).toBe(`cannot attach ${id}: no such volume`);
    }
  });

  it('maps a failed query to a berth error naming its filters', async () => {
    const { lookups, mock } = setup();
    mock.on(DescribeVolumesCommand).rejects(ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    const err = await lookups.findByName('pgdata').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as Error).message).toContain('tag:berth:name=pgdata');
  });
});

describe('VolumeLookups: what an answer of a moment ago stands in for', () => {
  afterEach(() => jest.restoreAllMocks());
  const at = (ms: number) => jest.spyOn(Date, 'now').mockReturnValue(ms);

  it('a describe() answer showing the volume free and unattached serves for RECENT_DESCRIBE_MS, until forgotten', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    volumes.set('vol-2', volume('vol-2', berthTags('b')));
    at(1_000_000);
    await lookups.describe('vol-1');
    await lookups.describe('vol-2');
    at(1_000_000 + RECENT_DESCRIBE_MS);
    expect(lookups.recentlyUnattached('vol-1')?.volumeId).toBe('vol-1');
    lookups.forgetRecent('vol-2');
    expect(lookups.recentlyUnattached('vol-2')).toBeUndefined();
    at(1_000_000 + RECENT_DESCRIBE_MS + 1);
    expect(lookups.recentlyUnattached('vol-1')).toBeUndefined();
  });

  it('a describe() answer showing an attachment, another state or no volume serves for nothing', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-here', volume('vol-here', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'attached' }] }));
    volumes.set('vol-creating', volume('vol-creating', berthTags('b'), { State: 'creating' }));
    for (const id of ['vol-here', 'vol-creating', 'vol-missing']) {
      await lookups.describe(id);
      expect(lookups.recentlyUnattached(id)).toBeUndefined();
    }
  });

  it('a namespace listing stands in for a name lookup for LISTING_REUSE_MS, only for names it lacks', async () => {
    const { lookups, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('listed')));
    expect(lookups.listedRecentlyWithout('absent')).toBe(false);
    at(2_000_000);
    await lookups.listVolumes();
    expect(lookups.listedRecentlyWithout('absent')).toBe(true);
    expect(lookups.listedRecentlyWithout('listed')).toBe(false);
    at(2_000_000 + LISTING_REUSE_MS + 1);
    expect(lookups.listedRecentlyWithout('absent')).toBe(false);
  });

  it('so does a look-up by name that found nothing, until the name is found', async () => {
    const { lookups, volumes } = setup();
    at(3_000_000);
    expect(await lookups.findByName('soon')).toBeUndefined();
    expect(lookups.listedRecentlyWithout('soon')).toBe(true);
    at(3_000_000 + LISTING_REUSE_MS + 1);
    expect(lookups.listedRecentlyWithout('soon')).toBe(false);
    expect(await lookups.findByName('soon')).toBeUndefined();
    volumes.set('vol-soon', volume('vol-soon', berthTags('soon')));
    expect(await lookups.findByName('soon')).toBeDefined();
    expect(lookups.listedRecentlyWithout('soon')).toBe(false);
  });

  it('with acceptRecent, an answer under RECENT_DESCRIBE_MS old stands in for describe() and findByName(); without it, EC2 is asked', async () => {
    const { lookups, mock, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('db')));
    at(4_000_000);
    await lookups.describe('vol-1');
    const asked = () => mock.commandCalls(DescribeVolumesCommand).length;
    const before = asked();
    at(4_000_000 + RECENT_DESCRIBE_MS);
    expect((await lookups.describe('vol-1', undefined, { acceptRecent: true }))?.volumeId).toBe('vol-1');
    expect((await lookups.findByName('db', undefined, { acceptRecent: true }))?.volumeId).toBe('vol-1');
    expect(asked()).toBe(before);
    await lookups.describe('vol-1');
    expect(asked()).toBe(before + 1);
    at(4_000_000 + 3 * RECENT_DESCRIBE_MS);
    await lookups.findByName('db', undefined, { acceptRecent: true });
    expect(asked()).toBe(before + 2);
  });

  it('no answer stands in once a change of the volume was asked for, not even one that arrives after the change', async () => {
    const { lookups, mock, volumes } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('db')));
    at(5_000_000);
    const late = lookups.describe('vol-1');
    lookups.forgetRecent('vol-1');
    expect((await late)?.volumeId).toBe('vol-1');
    const before = mock.commandCalls(DescribeVolumesCommand).length;
    await lookups.describe('vol-1', undefined, { acceptRecent: true });
    expect(mock.commandCalls(DescribeVolumesCommand)).toHaveLength(before + 1);
    lookups.forgetRecent('vol-1');
    expect(await lookups.findByName('db', undefined, { acceptRecent: true })).toBeDefined();
    expect(mock.commandCalls(DescribeVolumesCommand)).toHaveLength(before + 2);
  });
});

describe('VolumeLookups with a listing thread', () => {
  const page = (ids: string[], NextToken?: string) => ({ Volumes: ids.map((id) => volume(id, berthTags(`name-${id}`))), NextToken });
  const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => `vol-${from + i}`);

  /** A stand-in for the listing thread: it answers as the worker would, or fails as told. */
  function fakeThread(answer: (startToken?: string) => Promise<CloudVolume[]>) {
    const asked: Array<string | undefined> = [];
    const thread: PagedQuery = {
      query: async (_filters, _signal, keep = (v) => v, startToken) => {
        asked.push(startToken);
        return (await answer(startToken)).map(keep);
      },
    };
    return { thread, asked };
  }

  function withThread(thread: PagedQuery) {
    const fake = fakeEc2();
    return { ...fake, lookups: new VolumeLookups({ ec2: fake.ec2, config: fake.config, logger: fake.logger, listingThread: thread }) };
  }

  const parsed = (volumeIds: string[]) => {
    const { lookups, mock } = setup();
    mock.on(DescribeVolumesCommand).resolves(page(volumeIds));
    return lookups.listVolumes();
  };

  it('lists a namespace of one page on this thread, never starting the listing thread', async () => {
    const { thread, asked } = fakeThread(async () => []);
    const { lookups, mock } = withThread(thread);
    mock.on(DescribeVolumesCommand).resolves(page(ids(1, 3)));
    expect((await lookups.listVolumes()).map((v) => v.volumeId).sort()).toEqual(['vol-1', 'vol-2', 'vol-3']);
    expect(asked).toEqual([]);
  });

  it("hands a namespace's second page on to the thread, then the whole of the next listing", async () => {
    const rest = await parsed(ids(501, 200));
    const all = await parsed(ids(1, 700));
    const { thread, asked } = fakeThread(async (startToken) => (startToken ? rest : all));
    const { lookups, mock } = withThread(thread);
    mock.on(DescribeVolumesCommand).resolves(page(ids(1, 500), 'after-500'));
    const kept: string[] = [];
    const first = await lookups.listVolumes(undefined, (v) => (kept.push(v.volumeId), v));
    expect(first).toHaveLength(700);
    expect(asked).toEqual(['after-500']);
    expect(mock.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
    expect(kept).toHaveLength(700);
    expect(await lookups.listVolumes()).toHaveLength(700);
    expect(asked).toEqual(['after-500', undefined]);
    expect(mock.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
  });

  it('lists on this thread, from where the thread was to begin, when the thread is unavailable, and warns', async () => {
    const { thread, asked } = fakeThread(async () => {
      throw new ListingThreadUnavailable('the listing thread exited (code 3)');
    });
    const { lookups, mock, lines } = withThread(thread);
    mock
      .on(DescribeVolumesCommand)
      .resolvesOnce(page(ids(1, 500), 'after-500'))
      .resolvesOnce(page(ids(501, 20)));
    expect(await lookups.listVolumes()).toHaveLength(520);
    expect(asked).toEqual(['after-500']);
    expect(mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input.NextToken)).toEqual([undefined, 'after-500']);
    const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.level === 'warn');
    expect(warning).toMatchObject({ message: 'the listing thread is unavailable; listing volumes on the main thread', error: 'the listing thread exited (code 3)' });
  });

  it("fails the listing with EC2's refusal from the thread, as from this thread", async () => {
    const refusal = new BerthError('cloud', 'DescribeVolumes tag:berth:namespace=default: EC2 refused the credentials or their IAM permissions (UnauthorizedOperation)');
    const { thread } = fakeThread(async () => {
      throw refusal;
    });
    const { lookups, mock } = withThread(thread);
    mock.on(DescribeVolumesCommand).resolves(page(ids(1, 500), 'after-500'));
    await expect(lookups.listVolumes()).rejects.toBe(refusal);
    expect(mock.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
  });
});
