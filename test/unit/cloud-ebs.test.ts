import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
} from '@aws-sdk/client-ec2';
import type { CloudConfig } from '../../src/cloud/context';
import { EbsCloud } from '../../src/cloud/ebs';
import { ME, berthTags, fakeEc2, spec, tagsOf, volume } from '../support/fake-ec2';

function setup(config: Partial<CloudConfig> = {}, throttledCount?: () => number) {
  const fake = fakeEc2(config);
  const cloud = new EbsCloud({ ec2: fake.ec2, identity: ME, config: fake.config, logger: fake.logger, throttledCount, batchWindowMs: 5 });
  return { ...fake, cloud };
}

describe('EbsCloud', () => {
  it('answers a copy of this instance\'s identity', () => {
    const { cloud } = setup();
    const identity = cloud.identity();
    expect(identity).toEqual(ME);
    identity.availabilityZone = 'elsewhere';
    expect(cloud.identity().availabilityZone).toBe(ME.availabilityZone);
  });

  it('reports the client\'s throttled calls, and 0 for a client built elsewhere', () => {
    expect(setup({}, () => 7).cloud.throttledCount()).toBe(7);
    expect(setup().cloud.throttledCount()).toBe(0);
  });

  it('takes a volume through its life, each call reaching EC2 through its part', async () => {
    const ctx = setup();
    ctx.mock.on(CreateVolumeCommand).callsFake((input) => {
      ctx.volumes.set('vol-1', volume('vol-1', tagsOf(input), { State: 'creating' }));
      ctx.evolve.set('vol-1', (v, polls) => (polls >= 2 ? { ...v, State: 'available' } : v));
      return { VolumeId: 'vol-1', State: 'creating' };
    });
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      ctx.evolve.set('vol-1', (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
    ctx.mock.on(DetachVolumeCommand).callsFake(() => {
      ctx.evolve.set('vol-1', (v) => ({ ...v, State: 'available', Attachments: [] }));
      return { State: 'detaching' };
    });
    ctx.mock.on(DeleteTagsCommand).resolves({});
    ctx.mock.on(CreateTagsCommand).resolves({});
    ctx.mock.on(CreateSnapshotCommand).resolves({ SnapshotId: 'snap-1' });
    ctx.mock.on(DeleteVolumeCommand).resolves({});

    expect((await ctx.cloud.create(spec)).volumeId).toBe('vol-1');
    expect((await ctx.cloud.findByName('pgdata'))?.volumeId).toBe('vol-1');
    expect((await ctx.cloud.listVolumes()).map((v) => v.volumeId)).toEqual(['vol-1']);
    expect(await ctx.cloud.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    await ctx.cloud.markFormatted('vol-1');
    await ctx.cloud.detach('vol-1', {}, ctx.signal());
    expect(await ctx.cloud.snapshot('vol-1', 'final')).toBe('snap-1');
    await ctx.cloud.retire('vol-1', 'retained');
    await ctx.cloud.delete('vol-1');
    const sent = ctx.mock.calls().map((call) => call.args[0].constructor.name).filter((name) => name !== 'DescribeVolumesCommand' && name !== 'DescribeInstancesCommand');
    expect(sent).toEqual([
      'CreateVolumeCommand',
      'AttachVolumeCommand',
      'DeleteTagsCommand',
      'DetachVolumeCommand',
      'CreateSnapshotCommand',
      'CreateTagsCommand',
      'DeleteTagsCommand',
      'DeleteVolumeCommand',
    ]);
  });

  it('shares one lookups object among its parts: a describe() answer serves attach as its first look', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      ctx.evolve.set('vol-1', (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
    await ctx.cloud.describe('vol-1');
    await ctx.cloud.attach('vol-1', ctx.signal());
    const calls = ctx.mock.calls();
    const attachAt = calls.findIndex((call) => call.args[0] instanceof AttachVolumeCommand);
    expect(calls.slice(0, attachAt).filter((call) => call.args[0] instanceof DescribeVolumesCommand)).toHaveLength(1);
  });
});
