import { AttachVolumeCommand, DescribeInstancesCommand, DescribeVolumesCommand, DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { VolumeAttacher } from '../../src/cloud/attach';
import type { CloudConfig } from '../../src/cloud/context';
import type { BerthError } from '../../src/common/errors';
import { ME, OTHER, berthTags, ec2Error, fakeCloudParts, volume } from '../support/fake-ec2';

function setup(config: Partial<CloudConfig> = {}) {
  const fake = fakeCloudParts(config);
  return { ...fake, attacher: new VolumeAttacher(fake.parts) };
}

describe('VolumeAttacher.attach', () => {
  it('reuses an attachment here and makes no AttachVolume call', async () => {
    const { attacher, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdk', State: 'attached' }] }));
    expect(await attacher.attach('vol-1', signal())).toBe('/dev/xvdk');
    expect(mock.commandCalls(AttachVolumeCommand)).toHaveLength(0);
  });

  it('refuses a volume attached to another instance, naming it', async () => {
    const { attacher, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('pgdata'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'attached' }] }));
    const err = await attacher.attach('vol-1', signal()).catch((e: unknown) => e);
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
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    const input = ctx.mock.commandCalls(AttachVolumeCommand)[0].args[0].input;
    expect(input).toEqual({ VolumeId: 'vol-1', InstanceId: ME.instanceId, Device: '/dev/xvdg' });
    expect(ctx.mock.commandCalls(DescribeInstancesCommand)[0].args[0].input.InstanceIds).toEqual([ME.instanceId]);
  });

  it('stops polling EC2 once the device shows up on this machine, and leaves the attachment in place', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, Number.MAX_SAFE_INTEGER); // EC2 keeps saying attaching
    const device = await ctx.attacher.attach('vol-1', ctx.signal(), { deviceAppeared: () => new Promise((resolve) => setTimeout(resolve, 30)) });
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
    const device = await ctx.attacher.attach('vol-1', ctx.signal(), { deviceAppeared: () => Promise.reject(new Error('not a block device')) });
    expect(device).toBe('/dev/xvdg');
    expect(ctx.volumes.get('vol-1')?.Attachments?.[0]?.State).toBe('attached');
  });

  it('gives concurrent attaches distinct device names', async () => {
    const ctx = setup();
    const ids = Array.from({ length: 6 }, (_, i) => `vol-${i}`);
    for (const id of ids) ctx.volumes.set(id, volume(id, berthTags(id)));
    acceptAttach(ctx, 1);
    const devices = await Promise.all(ids.map((id) => ctx.attacher.attach(id, ctx.signal())));
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
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdh');
    expect(ctx.mock.commandCalls(AttachVolumeCommand).map((call) => call.args[0].input.Device)).toEqual(['/dev/xvdg', '/dev/xvdh']);
    // The refused name stays avoided for the next volume too.
    ctx.volumes.set('vol-2', volume('vol-2', berthTags('b')));
    expect(await ctx.attacher.attach('vol-2', ctx.signal())).not.toBe('/dev/xvdg');
  });

  it('stops after a bounded number of refused device names with a clear error', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      throw ec2Error('InvalidParameterValue', `Invalid value '${input.Device}' for unixDevice. Attachment point ${input.Device} is already in use`);
    });
    const err = await ctx.attacher.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/refused 8 device names/);
    const devices = ctx.mock.commandCalls(AttachVolumeCommand).map((call) => call.args[0].input.Device);
    expect(new Set(devices).size).toBe(8);
  });

  it('reports AttachmentLimitExceeded as capacity', async () => {
    const { attacher, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(AttachVolumeCommand).rejects(ec2Error('AttachmentLimitExceeded', 'You have reached the limit of attachments for this instance'));
    const err = await attacher.attach('vol-1', signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('capacity');
    expect((err as Error).message).toMatch(/limit of attached EBS volumes/);
  });

  it('detaches an attachment stuck in attaching and says so in a timeout error', async () => {
    const ctx = setup({ statusTimeoutMs: 300 });
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    acceptAttach(ctx, Number.MAX_SAFE_INTEGER);
    ctx.mock.on(DetachVolumeCommand).resolves({ State: 'detaching' });
    const start = Date.now();
    const err = await ctx.attacher.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
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
    const err = await ctx.attacher.attach('vol-1', AbortSignal.timeout(200)).catch((e: unknown) => e);
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
    const err = await ctx.attacher.attach('vol-1', AbortSignal.timeout(50)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toMatch(/cancelled/);
    expect(ctx.mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toMatchObject({ VolumeId: 'vol-1', InstanceId: ME.instanceId });
  });
});

describe('VolumeAttacher.attach: what EC2 said moments ago', () => {
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
    await ctx.lookups.describe('vol-1');
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    expect(describesBeforeAttach(ctx)).toBe(1);
  });

  it('looks again when that answer showed an attachment', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'detaching' }] }));
    await ctx.lookups.describe('vol-1');
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: OTHER, Device: '/dev/xvdf', State: 'attached' }] }));
    const err = await ctx.attacher.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('attached-elsewhere');
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(2);
  });

  it('asks for the instance\'s devices once for attaches in quick succession', async () => {
    const ctx = setup();
    const ids = Array.from({ length: 6 }, (_, i) => `vol-${i}`);
    for (const id of ids) ctx.volumes.set(id, volume(id, berthTags(id)));
    acceptAttachAt(ctx);
    const devices: string[] = [];
    for (const id of ids) devices.push(await ctx.attacher.attach(id, ctx.signal()));
    expect(new Set(devices).size).toBe(6);
    expect(ctx.mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
  });
});

describe('VolumeAttacher.detach', () => {
  it('counts IncorrectState as already detached', async () => {
    const { attacher, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(DetachVolumeCommand).rejects(ec2Error('IncorrectState', "Volume 'vol-1' is in the 'available' state."));
    await expect(attacher.detach('vol-1', {}, signal())).resolves.toBeUndefined();
  });

  it('counts a missing volume as detached', async () => {
    const { attacher, mock, signal } = setup();
    mock.on(DetachVolumeCommand).rejects(ec2Error('InvalidVolume.NotFound'));
    await expect(attacher.detach('vol-gone', {}, signal())).resolves.toBeUndefined();
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
    await ctx.attacher.detach('vol-1', {}, ctx.signal());
    expect(ctx.mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toEqual({ VolumeId: 'vol-1', InstanceId: ME.instanceId });
    expect((await ctx.lookups.describe('vol-1'))?.attachments).toEqual([]);
  });

  it('ends once the device has left this machine, though EC2 still says detaching, and remembers how long it took', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'attached' }] }));
    ctx.mock.on(DetachVolumeCommand).callsFake(() => {
      ctx.volumes.set('vol-1', { ...ctx.volumes.get('vol-1')!, Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'detaching' }] });
      return { Device: '/dev/xvdg', InstanceId: ME.instanceId, State: 'detaching' };
    });
    const watched: string[] = [];
    await ctx.attacher.detach('vol-1', { deviceGone: (name) => (watched.push(name), new Promise((resolve) => setTimeout(resolve, 40))) }, ctx.signal());
    expect(watched).toEqual(['/dev/xvdg']);
    // EC2 was asked no more than once meanwhile (its polls are only the fallback), and not again after.
    const describes = ctx.mock.commandCalls(DescribeVolumesCommand).length;
    expect(describes).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(ctx.mock.commandCalls(DescribeVolumesCommand)).toHaveLength(describes);
    expect(ctx.parts.pace.expectedMs('detach')).toBeGreaterThanOrEqual(30);
  });

  it("ends on EC2's word when the device watch fails, and never watches for another instance's device", async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'attached' }] }));
    ctx.mock.on(DetachVolumeCommand).callsFake((input: { InstanceId?: string }) => {
      ctx.volumes.set('vol-1', { ...ctx.volumes.get('vol-1')!, State: 'available', Attachments: [] });
      return { Device: '/dev/xvdg', InstanceId: input.InstanceId, State: 'detaching' };
    });
    await ctx.attacher.detach('vol-1', { deviceGone: () => Promise.reject(new Error('cannot read the device dir')) }, ctx.signal());
    const watched: string[] = [];
    await ctx.attacher.detach('vol-1', { instanceId: OTHER, deviceGone: async (name) => void watched.push(name) }, ctx.signal());
    expect(watched).toEqual([]);
  });

  it('force-detaches from another instance when asked', async () => {
    const { attacher, mock, volumes, signal } = setup();
    volumes.set('vol-1', volume('vol-1', berthTags('a')));
    mock.on(DetachVolumeCommand).resolves({});
    await attacher.detach('vol-1', { instanceId: OTHER, force: true }, signal());
    expect(mock.commandCalls(DetachVolumeCommand)[0].args[0].input).toEqual({ VolumeId: 'vol-1', InstanceId: OTHER, Force: true });
  });

  it('times out naming the volume and the last state when the detach never completes', async () => {
    const { attacher, mock, volumes } = setup({ statusTimeoutMs: 200 });
    volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdg', State: 'detaching' }] }));
    mock.on(DetachVolumeCommand).resolves({});
    const err = await attacher.detach('vol-1', {}, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toContain('vol-1');
    expect((err as Error).message).toContain('detaching');
  });
});

describe('VolumeAttacher: volumes on their way somewhere', () => {
  it('waits on an attachment here that is still attaching instead of attaching again', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdk', State: 'attaching' }] }));
    ctx.evolve.set('vol-1', (v, polls) => (polls > 2 ? { ...v, Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdk', State: 'attached' }] } : v));
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdk');
    expect(ctx.mock.commandCalls(AttachVolumeCommand)).toHaveLength(0);
  });

  it('waits for a detaching attachment here to go, then attaches anew', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdk', State: 'detaching' }] }));
    ctx.evolve.set('vol-1', (v, polls) => (polls > 2 ? { ...v, State: 'available', Attachments: [] } : v));
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      ctx.evolve.set('vol-1', (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    expect(ctx.mock.commandCalls(AttachVolumeCommand)).toHaveLength(1);
  });

  it('waits for a volume still being created before attaching it', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'creating' }));
    ctx.evolve.set('vol-1', (v, polls) => (polls > 2 ? { ...v, State: 'available' } : v));
    let stateWhenAttached: string | undefined;
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      stateWhenAttached = ctx.volumes.get('vol-1')?.State;
      ctx.evolve.set('vol-1', (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    expect(stateWhenAttached).toBe('available');
  });

  it('refuses a volume in the error state without calling AttachVolume', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'error' }));
    const err = await ctx.attacher.attach('vol-1', ctx.signal()).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toBe('cannot attach vol-1: the volume is error');
    expect(ctx.mock.commandCalls(AttachVolumeCommand)).toHaveLength(0);
  });

  it('after VolumeInUse uses the attachment to this instance that EC2 reports meanwhile', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.mock.on(AttachVolumeCommand).callsFake(() => {
      ctx.volumes.set('vol-1', volume('vol-1', berthTags('a'), { State: 'in-use', Attachments: [{ InstanceId: ME.instanceId, Device: '/dev/xvdm', State: 'attached' }] }));
      throw ec2Error('VolumeInUse', 'vol-1 is already attached to an instance');
    });
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdm');
  });

  it('a detach from this instance frees the device name for the next attach', async () => {
    const ctx = setup();
    ctx.volumes.set('vol-1', volume('vol-1', berthTags('a')));
    ctx.volumes.set('vol-2', volume('vol-2', berthTags('b')));
    ctx.mock.on(AttachVolumeCommand).callsFake((input) => {
      ctx.evolve.set(input.VolumeId, (v) => ({ ...v, State: 'in-use', Attachments: [{ InstanceId: input.InstanceId, Device: input.Device, State: 'attached' }] }));
      return { State: 'attaching' };
    });
    ctx.mock.on(DetachVolumeCommand).callsFake((input) => {
      ctx.evolve.set(input.VolumeId, (v) => ({ ...v, State: 'available', Attachments: [] }));
      return { State: 'detaching' };
    });
    expect(await ctx.attacher.attach('vol-1', ctx.signal())).toBe('/dev/xvdg');
    await ctx.attacher.detach('vol-1', {}, ctx.signal());
    expect(await ctx.attacher.attach('vol-2', ctx.signal())).toBe('/dev/xvdg');
  });
});
