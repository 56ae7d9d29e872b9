/**
 * One crash point, start to end: bring a fresh volume to where the operation starts, run the operation and kill
 * the daemon at the point, restart it on the same state, retry as a user would (or wait for berth's background work
 * to finish by itself), finish the volume's round trip, and check the volume: attached at most once, formatted once
 * (filesystem UUID unchanged), its marker file intact, no mount, loop device, attachment or tool process left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CrashPoint, Ec2Step } from './points';
import { CrashRig, until } from './rig';
import { writeDurably } from '../../support/files';

const HOLD_LATENCY_MS = 600;
const HIT_TIMEOUT_MS = 20_000;
const MARKER = 'crash-marker';
/** The restarted daemon's first background retry comes 1 s after it starts. */
const BACKGROUND_DETACH_MS = 10_000;

export interface PointResult {
  volumeId: string;
  /** mkfs runs that finished with success on this volume, and ones abandoned by the crash. */
  formats: number;
  abandonedFormats: number;
  retryError?: string;
}

class Volume {
  volumeId = '';
  uuid = '';
  marker = '';
  constructor(
    readonly rig: CrashRig,
    readonly name: string,
  ) {}

  async create(opts: Record<string, string> = {}): Promise<void> {
    await this.rig.call('VolumeDriver.Create', { Name: this.name, Opts: { size: '1', ...opts } });
    await this.identify();
  }

  async identify(): Promise<void> {
    const { Volume } = await this.rig.call('VolumeDriver.Get', { Name: this.name });
    this.volumeId = Volume.Status.volumeId;
  }

  async mount(id: string): Promise<string> {
    const { Mountpoint } = await this.rig.call('VolumeDriver.Mount', { Name: this.name, ID: id });
    // A Mount may have moved it into this zone: a new volume id, the same filesystem.
    await this.identify();
    this.checkAttachedOnce();
    const marker = path.join(Mountpoint, MARKER);
    if (this.marker) expect(fs.readFileSync(marker, 'utf8')).toBe(this.marker);
    else {
      this.marker = `written through ${Mountpoint} for ${this.volumeId}`;
      writeDurably(marker, this.marker);
    }
    this.checkFormattedOnce();
    return Mountpoint;
  }

  unmount(id: string): Promise<unknown> {
    return this.rig.call('VolumeDriver.Unmount', { Name: this.name, ID: id });
  }

  remove(): Promise<unknown> {
    return this.rig.call('VolumeDriver.Remove', { Name: this.name });
  }

  checkAttachedOnce(): void {
    expect(this.rig.loopDevicesOf(this.volumeId).length).toBeLessThanOrEqual(1);
  }

  /** The first filesystem seen is the one for good. */
  checkFormattedOnce(): void {
    const uuid = this.rig.filesystemUuid(this.volumeId);
    if (!this.uuid) this.uuid = uuid;
    expect(uuid).toBe(this.uuid);
  }

  /** Nothing of it left on this host or attached in EC2. */
  async checkReleased(): Promise<void> {
    expect(this.rig.mounts().filter((target) => target.includes(`/volumes/${this.name}`))).toEqual([]);
    expect(this.rig.loopDevicesOf(this.volumeId)).toEqual([]);
    const [volume] = (await this.rig.volumes()).filter((candidate) => candidate.id === this.volumeId);
    expect(volume?.attachment).toBeUndefined();
  }

  /** Moved here: the one live volume of its name is in this zone, and the old one is retired, kept and let go. */
  async checkMovedFrom(from: string): Promise<void> {
    const live = (await this.rig.volumesNamed(this.name)).filter((found) => !found.tags['berth:retired'] && found.lifecycle !== 'deleting');
    expect(live.map((found) => `${found.id} in ${found.availabilityZone}`)).toEqual([`${this.volumeId} in ${this.rig.endpoint.instances[0].az}`]);
    const [old] = (await this.rig.volumes()).filter((found) => found.id === from);
    expect(old).toMatchObject({ lifecycle: 'available', tags: { 'berth:retired': expect.stringMatching(/^moved /) } });
    expect(old.attachment).toBeUndefined();
    expect(this.rig.loopDevicesOf(from)).toEqual([]);
  }

  /** The daemon finishes a pending detach by itself: detached in EC2, nothing left in pending-detaches.json. */
  async detachedInBackground(): Promise<void> {
    const pending = () => Object.keys(this.rig.stateFile('pending-detaches.json')?.volumes ?? {});
    await until(
      async () => pending().length === 0 && !(await this.rig.volumes()).find((found) => found.id === this.volumeId)?.attachment,
      BACKGROUND_DETACH_MS,
      () => `the background detach of ${this.volumeId} (pending: ${pending().join(' ') || 'none'}); daemon log:\n${this.rig.logTail()}`,
    );
  }
}

/** Whether the daemon has reached the point of an EC2 step: the call under way, or answered. */
async function reachedCall(rig: CrashRig, step: Ec2Step, since: number, seen: string[]): Promise<boolean> {
  let answered = await rig.calls(since);
  seen.splice(0, seen.length, ...answered.map((call) => `${call.action}:${call.result}`));
  if (step.following) {
    const preceding = answered.findIndex((call) => call.action === step.following);
    if (preceding < 0) return false;
    answered = answered.slice(preceding + 1);
  }
  if (step.holding && rig.gates.held(step.holding, 'start').length === 0) return false;
  const done = answered.some((call) => call.action === step.action);
  if (step.when === 'after') return done;
  return !done && (await rig.inflight()).some((call) => call.action === step.action);
}

/** Runs `operation`, kills the daemon at the point, and restarts it. */
async function crashDuring(rig: CrashRig, { step }: CrashPoint, operation: () => Promise<unknown>): Promise<void> {
  if (step.kind === 'ec2' && step.idleFirstMs) await new Promise((resolve) => setTimeout(resolve, step.idleFirstMs));
  if (step.kind === 'ec2' && step.freshDaemonFirst) await rig.reconfigure({});
  const since = await rig.lastSeq();
  if (step.kind === 'tool') rig.gates.arm(step.tool, step.when);
  else {
    if (step.holding) rig.gates.arm(step.holding, 'start');
    // Before a call: it is held on its way. After: the calls that follow are; host steps may begin within one poll.
    const latencyMs = step.when === 'before' ? { [step.action]: HOLD_LATENCY_MS } : { [step.action]: 0, '*': HOLD_LATENCY_MS };
    await rig.faults({ latencyMs });
  }
  const answer = operation().catch((err: Error) => err);
  const seen: string[] = [];
  const reached = async () => (step.kind === 'tool' ? rig.gates.held(step.tool, step.when).length > 0 : reachedCall(rig, step, since, seen));
  await until(reached, HIT_TIMEOUT_MS, () => `the point; EC2 calls: ${seen.join(' ')}; daemon log:\n${rig.logTail()}`);
  await rig.crash();
  await rig.faults({});
  // The call the crash cut off still takes effect in EC2, as it would: let it before the daemon restarts.
  await until(async () => (await rig.inflight()).length === 0, HIT_TIMEOUT_MS, () => 'EC2 calls under way to finish');
  await answer;
  await rig.restart();
}

/** Each point gets a fresh volume, brought to where its operation starts. */
export async function runPoint(rig: CrashRig, point: CrashPoint, name: string): Promise<PointResult> {
  const formatsBefore = rig.gates.runs('mkfs.ext4').length;
  const volume = new Volume(rig, name);
  let retryError: string | undefined;
  const retry = async (work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      retryError = (err as Error).message;
      throw err;
    }
  };
  try {
    switch (point.operation) {
      case 'create':
        await crashDuring(rig, point, () => rig.call('VolumeDriver.Create', { Name: name, Opts: { size: '1' } }));
        await retry(() => rig.call('VolumeDriver.Create', { Name: name, Opts: { size: '1' } }));
        expect((await rig.volumesNamed(name)).map((found) => found.lifecycle)).toEqual(['available']);
        await volume.identify();
        await volume.mount('first');
        await volume.unmount('first');
        break;
      case 'mount-new':
        await volume.create();
        await crashDuring(rig, point, () => rig.call('VolumeDriver.Mount', { Name: name, ID: 'crashed' }));
        await retry(() => volume.mount('retry'));
        await volume.unmount('retry');
        break;
      case 'mount-again':
        await volume.create();
        await volume.mount('setup');
        await volume.unmount('setup');
        await crashDuring(rig, point, () => rig.call('VolumeDriver.Mount', { Name: name, ID: 'crashed' }));
        await retry(() => volume.mount('retry'));
        await volume.unmount('retry');
        break;
      case 'mount-moved': {
        // Created, formatted and written by a daemon of the instance in the other zone, so the move has data to carry.
        await rig.inOtherZone(async () => {
          await volume.create({ crossAZ: 'snapshot' });
          await volume.mount('setup');
          await volume.unmount('setup');
        });
        const from = volume.volumeId;
        await crashDuring(rig, point, () => rig.call('VolumeDriver.Mount', { Name: name, ID: 'crashed' }));
        await retry(() => volume.mount('retry'));
        await volume.unmount('retry');
        await volume.checkMovedFrom(from);
        break;
      }
      case 'unmount':
        await volume.create();
        await volume.mount('user');
        await crashDuring(rig, point, () => volume.unmount('user'));
        await retry(() => volume.unmount('user'));
        break;
      case 'detach-retry':
        // One attempt per EC2 call: the SDK's ten, with backoff, would hold the failing Unmount for half a minute.
        await rig.reconfigure({ EBS_MAXRETRIES: '1' });
        await volume.create();
        await volume.mount('user');
        await rig.faults({ serverError: { actions: ['DetachVolume'] } });
        await volume.unmount('user');
        expect(Object.keys(rig.stateFile('pending-detaches.json').volumes)).toEqual([volume.volumeId]);
        // The fault is lifted as the crash point is armed: the background retry's DetachVolume works.
        await crashDuring(rig, point, async () => undefined);
        await volume.detachedInBackground();
        break;
      case 'remove':
        await volume.create();
        await volume.mount('setup');
        await volume.unmount('setup');
        await crashDuring(rig, point, () => volume.remove());
        await retry(() => volume.remove());
        expect((await rig.call('VolumeDriver.Get', { Name: name }).catch(() => ({ Volume: null }))).Volume).toBeFalsy();
        expect((await rig.volumesNamed(name)).filter((found) => found.lifecycle !== 'deleting')).toEqual([]);
        break;
    }
    await volume.checkReleased();
    if (point.operation !== 'remove') {
      // The volume is whole: mounted again, its marker is there and its filesystem the first one.
      await volume.mount('check');
      await volume.unmount('check');
      await volume.checkReleased();
    }
    expect(rig.gates.anyHeld()).toEqual([]);
  } finally {
    rig.gates.reset();
    await rig.faults({});
  }
  const formats = rig.gates.runs('mkfs.ext4').slice(formatsBefore);
  const result = {
    volumeId: volume.volumeId,
    formats: formats.filter((run) => run.exitCode === 0).length,
    abandonedFormats: formats.filter((run) => run.exitCode === undefined).length,
    retryError,
  };
  expect(result.formats).toBe(1);
  return result;
}
