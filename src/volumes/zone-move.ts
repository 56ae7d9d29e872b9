/**
 * A volume wanted in another availability zone. By default that is refused with an error naming both zones; a
 * volume created with `-o crossAZ=snapshot` is moved here through a snapshot instead. A move outlives the Mount
 * that started it (a real snapshot can take longer than Docker waits): later Mounts join it.
 */
import { attachedElsewhereError, holderOf, zoneMismatchError } from '../cloud/attachments';
import type { CloudVolume, InstanceIdentity } from '../cloud/types';
import { BerthError } from '../common/errors';
import type { ServiceDeps } from './deps';

const MOVE_BOUND_FACTOR = 3;

export class ZoneMoves {
  private readonly running = new Map<string, Promise<CloudVolume>>();

  constructor(private readonly deps: ServiceDeps) {}

  /** Resolves with the volume in this instance's zone, or throws. */
  bringHere(volume: CloudVolume, signal: AbortSignal): Promise<CloudVolume> {
    return this.bringTo(volume, this.deps.cloud.identity(), signal, 'create it with -o crossAZ=snapshot to let berth move it');
  }

  /** Resolves with the volume in `here`'s zone (this instance, or a cluster volume's node), or throws with `advice`. */
  async bringTo(volume: CloudVolume, here: InstanceIdentity, signal: AbortSignal, advice: string): Promise<CloudVolume> {
    const { cloud, config, logger } = this.deps;
    if (volume.crossAZ !== 'snapshot') throw zoneMismatchError(volume, here, advice);
    const holder = holderOf(volume);
    if (holder && !config.preempt) {
      throw attachedElsewhereError(volume, holder, `it moves from ${volume.availabilityZone} to ${here.availabilityZone} only once released (or with EBS_PREEMPT=true)`);
    }
    let move = this.running.get(volume.name);
    if (!move) {
      const bound = AbortSignal.timeout(config.statusTimeoutMs * MOVE_BOUND_FACTOR);
      move = (async () => {
        if (holder) {
          logger.warn('preempting volume before moving it', { volume: volume.name, volumeId: volume.volumeId, from: holder.instanceId });
          await cloud.detach(volume.volumeId, { instanceId: holder.instanceId, force: true }, bound);
        }
        return cloud.moveToZone(volume, here.availabilityZone, bound);
      })().finally(() => this.running.delete(volume.name));
      this.running.set(volume.name, move);
      move.catch(() => undefined);
    }
    return Promise.race([move, abandoned(signal, volume, here.availabilityZone)]);
  }
}

function abandoned(signal: AbortSignal, volume: CloudVolume, zone: string): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () =>
      reject(
        new BerthError(
          'timeout',
          `volume ${volume.name} is being moved from ${volume.availabilityZone} to ${zone} through a snapshot; the move goes on in the background: retry shortly`,
        ),
      );
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}
