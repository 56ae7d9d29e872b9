import {
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import type { CloudConfig } from '../../src/cloud/context';
import { NOT_VISIBLE_LIMIT_MS, VolumeCreator, untilAvailable, waitAvailable } from '../../src/cloud/create';
import { clientToken } from '../../src/cloud/create-input';
import type { CreateVolumeSpec } from '../../src/cloud/types';
import { BerthError, ValidationError } from '../../src/common/errors';
import { CONFIG, OTHER, berthTags, ec2Error, fakeCloudParts, spec, tagsOf, volume } from '../support/fake-ec2';
import { advanceUntilSettled, useFakeClock } from '../support/fake-clock';

function setup(config: Partial<CloudConfig> = {}) {
  const fake = fakeCloudParts(config);
  return { ...fake, creator: new VolumeCreator(fake.parts) };
}

describe('VolumeCreator.create', () => {
  function acceptCreates(ctx: ReturnType<typeof setup>, ids: string[]) {
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      const id = ids.shift() as string;
      const tags = tagsOf(input);
      ctx.volumes.set(id, volume(id, tags, { State: 'creating', Size: input.Size, Throughput: input.Throughput }));
      ctx.evolve.set(id, (v, polls) => (polls >= 3 ? { ...v, State: 'available' } : v));
      return { VolumeId: id, State: 'creating' };
    });
  }

  it('creates with a generation-1 ClientToken and tags in TagSpecifications, and waits for available', async () => {
    const ctx = setup();
    acceptCreates(ctx, ['vol-new']);
    const created = await ctx.creator.create(spec);
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
    await ctx.lookups.listVolumes();
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-new');
    const calls = ctx.mock.calls();
    const createAt = calls.findIndex((call) => call.args[0] instanceof CreateVolumeCommand);
    expect(calls.slice(0, createAt).filter((call) => call.args[0] instanceof DescribeVolumesCommand)).toHaveLength(1);
  });

  it('still finds a volume of that name when the listing has it', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-there', volume('vol-there', berthTags('pgdata')));
    await ctx.lookups.listVolumes();
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-there');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(0);
  });

  it('waits by name: the answer that shows the new volume available is also the race check', async () => {
    const ctx = setup();
    acceptCreates(ctx, ['vol-new']);
    await ctx.creator.create(spec);
    // One lookup before creating, then three polls (the fake volume is available at the third): no extra lookup.
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(4);
  });

  it('uses the older of two volumes created with one name at the same time and deletes its own', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      const tags = tagsOf(input);
      ctx.volumes.set('vol-mine', volume('vol-mine', tags, { State: 'creating', CreateTime: new Date('2026-06-02T00:00:01Z') }));
      ctx.evolve.set('vol-mine', (v, polls) => (polls >= 2 ? { ...v, State: 'available' } : v));
      // Another host's create of the same name, a moment earlier, that our lookup before creating did not see.
      ctx.volumes.set('vol-theirs', volume('vol-theirs', berthTags('pgdata', 'default', { 'berth:unformatted': 'true' }), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
      return { VolumeId: 'vol-mine', State: 'creating' };
    });
    ctx.mock.on(DeleteVolumeCommand).resolves({});
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(DeleteVolumeCommand).map((call) => call.args[0].input.VolumeId)).toEqual(['vol-mine']);
  });

  it('returns an existing volume of that name without creating one', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-there', volume('vol-there', berthTags('pgdata')));
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-there');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(0);
  });

  it('after IdempotentParameterMismatch looks the name up again, then moves to the next generation', async () => {
    const ctx = setup();
    acceptCreatesAfterFirst(ctx, 'vol-gen2');
    const created = await ctx.creator.create(spec);
    expect(created.volumeId).toBe('vol-gen2');
    const tokens = ctx.mock.commandCalls(CreateVolumeCommand).map((call) => call.args[0].input.ClientToken);
    expect(tokens).toEqual([clientToken('default', 'pgdata', 1), clientToken('default', 'pgdata', 2)]);
    const lookups = ctx.mock.commandCalls(DescribeVolumesCommand).filter((call) => call.args[0].input.Filters);
    expect(lookups.length).toBeGreaterThanOrEqual(2); // before creating, and again after the mismatch
  });

  function acceptCreatesAfterFirst(ctx: ReturnType<typeof setup>, id: string) {
    ctx.mock.on(CreateVolumeCommand).rejectsOnce(ec2Error('IdempotentParameterMismatch')).callsFake((input) => {
      const tags = tagsOf(input);
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
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(1);
  });

  it('moves to the next generation when the token returns a deleted volume', async () => {
    const ctx = setup();
    ctx.mock
      .on(CreateVolumeCommand)
      .resolvesOnce({ VolumeId: 'vol-deleted', State: 'deleted' })
      .callsFake((input) => {
        const tags = tagsOf(input);
        ctx.volumes.set('vol-fresh', volume('vol-fresh', tags));
        return { VolumeId: 'vol-fresh', State: 'creating' };
      });
    const created = await ctx.creator.create(spec);
    expect(created.volumeId).toBe('vol-fresh');
    expect(created.tags['berth:generation']).toBe('2');
  });

  it('takes a token answering with a volume made before this create began for a deleted one: the next generation at once', async () => {
    const ctx = setup();
    ctx.mock
      .on(CreateVolumeCommand)
      .resolvesOnce({ VolumeId: 'vol-gone', State: 'creating', CreateTime: new Date(Date.now() - 60_000) })
      .callsFake((input) => {
        ctx.volumes.set('vol-fresh', volume('vol-fresh', tagsOf(input)));
        return { VolumeId: 'vol-fresh', State: 'creating', CreateTime: new Date() };
      });
    const created = await ctx.creator.create(spec);
    expect(created.volumeId).toBe('vol-fresh');
    expect(created.tags['berth:generation']).toBe('2');
    expect(ctx.mock.commandCalls(DescribeVolumesCommand).filter((call) => JSON.stringify(call.args[0].input).includes('vol-gone'))).toHaveLength(0);
  });

  it('takes a token whose volume EC2 never shows for a deleted one after NOT_VISIBLE_LIMIT_MS, and starts above it next time', async () => {
    useFakeClock();
    try {
      const ctx = setup({ statusTimeoutMs: 60_000 });
      const fresh = ['vol-fresh', 'vol-later'];
      ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
        if (input.ClientToken === clientToken('default', 'pgdata', 1)) return { VolumeId: 'vol-invisible', State: 'creating', CreateTime: new Date() };
        const id = fresh.shift() as string;
        ctx.volumes.set(id, volume(id, tagsOf(input)));
        return { VolumeId: id, State: 'creating', CreateTime: new Date() };
      });
      const started = Date.now();
      const created = await advanceUntilSettled(ctx.creator.create(spec));
      expect(created.volumeId).toBe('vol-fresh');
      expect(Date.now() - started).toBeGreaterThanOrEqual(NOT_VISIBLE_LIMIT_MS);
      expect(Date.now() - started).toBeLessThan(NOT_VISIBLE_LIMIT_MS + 5_000);
      ctx.volumes.delete('vol-fresh');
      const tokens = () => ctx.mock.commandCalls(CreateVolumeCommand).map((call) => call.args[0].input.ClientToken);
      const before = tokens().length;
      await advanceUntilSettled(ctx.creator.create(spec));
      expect(tokens().slice(before)[0]).toBe(clientToken('default', 'pgdata', 2));
    } finally {
      jest.useRealTimers();
    }
  });

  it('moves to the next generation when the token returns a retired volume', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-retired', volume('vol-retired', { Name: 'pgdata', 'berth:retired': 'retained pgdata 2026', 'berth:generation': '1' }));
    ctx.mock
      .on(CreateVolumeCommand)
      .resolvesOnce({ VolumeId: 'vol-retired', State: 'available' })
      .callsFake((input) => {
        const tags = tagsOf(input);
        ctx.volumes.set('vol-fresh', volume('vol-fresh', tags));
        return { VolumeId: 'vol-fresh', State: 'creating' };
      });
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-fresh');
  });

  it('gives up with a clear error after the last generation', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).resolves({ VolumeId: 'vol-deleted', State: 'deleted' });
    const err = await ctx.creator.create(spec).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/generations/);
    expect(ctx.mock.commandCalls(CreateVolumeCommand)).toHaveLength(20);
  });

  /** The CreateVolume input sent for this spec. Defaults (EBS_KMSKEYID, this instance's zone) are the option parser's. */
  async function sentFor(given: CreateVolumeSpec, config: Partial<CloudConfig> = {}) {
    const ctx = setup(config);
    acceptCreates(ctx, ['vol-new']);
    await ctx.creator.create(given);
    return ctx.mock.commandCalls(CreateVolumeCommand)[0].args[0].input;
  }

  it('encrypts with the spec\'s KMS key', async () => {
    const input = await sentFor({ ...spec, encrypted: true, kmsKeyId: 'alias/berth' });
    expect(input.Encrypted).toBe(true);
    expect(input.KmsKeyId).toBe('alias/berth');
  });

  it('leaves a volume the spec says is unencrypted unencrypted, with no key (once EBS_KMSKEYID overrode this)', async () => {
    // connectCloud is handed the daemon's whole Config, EBS_KMSKEYID included: the cloud reads no key from it.
    const daemonConfig = { ...CONFIG, kmsKeyId: 'alias/berth' };
    const input = await sentFor({ ...spec, encrypted: false }, daemonConfig);
    expect(input.Encrypted).toBe(false);
    expect(input).not.toHaveProperty('KmsKeyId');
  });

  it('encrypts without a key when the spec names none: EC2 uses the account\'s default key', async () => {
    const input = await sentFor({ ...spec, encrypted: true });
    expect(input.Encrypted).toBe(true);
    expect(input).not.toHaveProperty('KmsKeyId');
  });

  it('creates in the spec\'s availability zone, whatever this instance\'s', async () => {
    const input = await sentFor({ ...spec, availabilityZone: 'us-east-1c' });
    expect(input.AvailabilityZone).toBe('us-east-1c');
  });

  it('fails clearly when the volume enters the error state', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake(() => {
      ctx.volumes.set('vol-bad', volume('vol-bad', berthTags('pgdata'), { State: 'error' }));
      return { VolumeId: 'vol-bad', State: 'creating' };
    });
    await expect(ctx.creator.create(spec)).rejects.toThrow(/error state/);
  });

  it('maps EC2 parameter errors to the option they concern', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).rejects(ec2Error('InvalidParameterValue', 'Throughput (MiBps) to iops ratio of 0.5 is too high; maximum is 0.25 MiBps per iops.'));
    const err = await ctx.creator.create(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('throughput');
    expect((err as Error).message).toContain('maximum is 0.25');
  });
});

describe('VolumeCreator.delete and markFormatted', () => {
  it('counts a missing volume as deleted', async () => {
    const { creator, mock } = setup();
    mock.on(DeleteVolumeCommand).rejects(ec2Error('InvalidVolume.NotFound'));
    await expect(creator.delete('vol-gone')).resolves.toBeUndefined();
  });

  it('reports VolumeInUse as in-use', async () => {
    const { creator, mock } = setup();
    mock.on(DeleteVolumeCommand).rejects(ec2Error('VolumeInUse', 'Volume vol-1 is currently attached to i-1'));
    const err = await creator.delete('vol-1').catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('in-use');
  });

  it('removes the unformatted marker', async () => {
    const { creator, mock } = setup();
    mock.on(DeleteTagsCommand).resolves({});
    await creator.markFormatted('vol-1');
    expect(mock.commandCalls(DeleteTagsCommand)[0].args[0].input).toEqual({ Resources: ['vol-1'], Tags: [{ Key: 'berth:unformatted' }] });
  });

});

describe('VolumeCreator: settling a race, and the waits for available', () => {
  it('keeps the duplicate it made when it is no longer free and unformatted, and still uses the older volume', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      const tags = tagsOf(input);
      ctx.volumes.set('vol-mine', volume('vol-mine', tags, { State: 'creating', CreateTime: new Date('2026-06-02T00:00:01Z') }));
      // Someone attached it meanwhile: deleting it now would not be berth's to do.
      ctx.evolve.set('vol-mine', (v, polls) =>
        polls >= 2 ? { ...v, State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'attached' }] } : v,
      );
      ctx.volumes.set('vol-theirs', volume('vol-theirs', berthTags('pgdata'), { CreateTime: new Date('2026-06-02T00:00:00Z') }));
      return { VolumeId: 'vol-mine', State: 'creating' };
    });
    expect((await ctx.creator.create(spec)).volumeId).toBe('vol-theirs');
    expect(ctx.mock.commandCalls(DeleteVolumeCommand)).toHaveLength(0);
    const warning = ctx.lines.map((line) => JSON.parse(line)).find((entry) => entry.message?.includes('created at the same time'));
    expect(warning).toMatchObject({ using: 'vol-theirs', deleting: 'vol-mine' });
  });

  it('waitAvailable waits while the volume is not visible yet or creating, and resolves with the next state', async () => {
    const ctx = setup();
    let describes = 0;
    ctx.mock.on(DescribeVolumesCommand).callsFake(() => {
      describes += 1;
      if (describes < 3) return { Volumes: [] };
      return { Volumes: [volume('vol-1', berthTags('a'), { State: describes < 5 ? 'creating' : 'available' })] };
    });
    const available = await waitAvailable(ctx.parts, 'vol-1', ctx.signal());
    expect(available.state).toBe('available');
    expect(describes).toBe(5);
  });

  it('waitAvailable fails clearly when the volume enters the error state', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-bad', volume('vol-bad', berthTags('a'), { State: 'error' }));
    const err = await waitAvailable(ctx.parts, 'vol-bad', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/vol-bad entered the error state/);
  });

  it('untilAvailable answers at once for a volume no longer creating', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use' }));
    const inUse = await ctx.lookups.describe('vol-1');
    const calls = ctx.mock.commandCalls(DescribeVolumesCommand).length;
    expect(await untilAvailable(ctx.parts, inUse!, ctx.signal())).toBe(inUse);
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(calls);
  });
});
