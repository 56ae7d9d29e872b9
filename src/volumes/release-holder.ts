/**
 * `berth volume release`: gives back a volume that a host which is gone still holds. Without force it detaches
 * only from an instance that EC2 says is not running (stopped, terminated, gone), and refuses naming a running one;
 * with force it force-detaches, and the old holder's later writes fail, as after a preemption. A volume in use on
 * this host is never touched; one attached here and unused is released as its last Unmount would.
 */
import { holderOf } from '../cloud/attachments';
import { BerthError } from '../common/errors';
import type { AdministrationDeps } from './administration-deps';
import type { ReleaseResult } from './operations';
import { releaseVolume } from './release';

/** Instance states in which nothing on the instance can be writing to the volume. */
const NOT_RUNNING = ['stopped', 'terminated', 'shutting-down', 'gone'];
/** An attached volume's device shows up at once; one that does not is not on this machine. */
const DEVICE_LOOKUP_MS = 2_000;

export async function releaseHolder(name: string, force: boolean, deps: AdministrationDeps, signal: AbortSignal): Promise<ReleaseResult> {
  const here = deps.cloud.identity().instanceId;
  return deps.underLock(name, async () => {
    const users = deps.refcounts.users(name);
    if (users > 0) {
      throw new BerthError('in-use', `volume ${name} is in use on this host by ${users} container(s): release never takes a volume from this host's containers; stop them`);
    }
    const volume = await deps.lookUp(name, signal);
    const holder = holderOf(volume);
    const result = { name, volumeId: volume.volumeId, releasedFrom: holder?.instanceId ?? '', holderState: '', forced: false };
    if (!holder) return result;
    if (holder.instanceId === here) {
      await releaseHere(name, volume.volumeId, holder.device, deps, signal);
      return { ...result, holderState: 'running' };
    }
    const holderState = (await deps.cloud.describeInstance(holder.instanceId, signal)).state;
    if (!force && !NOT_RUNNING.includes(holderState)) {
      throw new BerthError(
        'attached-elsewhere',
        `volume ${name} is attached to instance ${holder.instanceId}, which is ${holderState}: release refuses to take it from a running instance ` +
          `(its containers may be writing). Stop them there, or give --force to force-detach it (the old holder's writes then fail)`,
      );
    }
    const forced = force && !NOT_RUNNING.includes(holderState);
    deps.logger.warn('releasing a volume held by another instance', { volume: name, volumeId: volume.volumeId, holder: holder.instanceId, holderState, forced });
    await deps.cloud.detach(volume.volumeId, { instanceId: holder.instanceId, force: forced }, signal);
    await deps.catalog.remember({ ...volume, state: 'available', attachments: [] });
    return { ...result, holderState, forced };
  }, signal);
}

/** Attached to this instance with no container using it: released as after its last Unmount, unless the machine holds it. */
async function releaseHere(name: string, volumeId: string, deviceName: string, deps: AdministrationDeps, signal: AbortSignal): Promise<void> {
  const heldHere = `volume ${name} is still held on this machine (mounted outside Docker): nothing was detached`;
  if (deps.refcounts.get(name)) {
    if ((await releaseVolume(name, deps, { reason: 'berth volume release', signal })) === 'still-held') throw new BerthError('in-use', heldHere);
    return;
  }
  const device = await deps.host.findDevice(volumeId, deviceName, AbortSignal.timeout(DEVICE_LOOKUP_MS)).catch(() => undefined);
  if (device && (await deps.host.deviceInUse(device))) throw new BerthError('in-use', heldHere);
  await deps.cloud.detach(volumeId, {}, signal);
}
