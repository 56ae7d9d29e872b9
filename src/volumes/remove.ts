/**
 * `docker volume rm` (also whatever removes volumes through Docker's API): EBS_REMOVE decides whether
 * the EBS volume is deleted, retained, or snapshotted and then deleted. Adopted REX-Ray volumes are only deleted
 * when EBS_REMOVE=delete is set explicitly.
 */
import { attachedElsewhereError, attachmentTo, heldElsewhere, holderOf } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import type { ReleaseDeps } from './deps';
import { waitWhileHeld } from './release-wait';

/** Caller holds the volume's lock and has released berth's own mount of it. */
export async function removeVolume(name: string, deps: ReleaseDeps, signal: AbortSignal): Promise<void> {
  const { cloud, config, logger } = deps;
  // The release just before (a detach's last poll) may have described it: EC2 refuses to delete a volume in use.
  const found = await cloud.findByName(name, signal, { acceptRecent: true });
  if (!found) return;
  const volume = await untilReleased(found, deps, signal);
  const holder = holderOf(volume);
  if (holder) throw attachedElsewhereError(volume, holder, 'it is removed only once no host uses it', 'in-use');
  const policy = config.removePolicy || (volume.owner === 'berth' ? 'delete' : 'retain');
  switch (policy) {
    case 'retain':
      await cloud.retire(volume.volumeId, 'retained');
      logger.info('volume retained: Docker forgot it, the EBS volume keeps its data', { volume: name, volumeId: volume.volumeId });
      return;
    case 'snapshot': {
      const snapshotId = await cloud.snapshot(volume.volumeId, `berth: final snapshot of volume ${name} before removal`);
      await cloud.delete(volume.volumeId);
      logger.info('volume snapshotted and deleted', { volume: name, volumeId: volume.volumeId, snapshotId });
      return;
    }
    case 'delete':
      await cloud.delete(volume.volumeId);
      logger.info('volume deleted', { volume: name, volumeId: volume.volumeId });
      return;
  }
}

/**
 * A volume on its way off an instance is waited for rather than refused: berth's own background detach here is
 * done now, a detach here already under way is awaited, and another instance is given EBS_RELEASEWAIT to let go
 * (a short use there lingers EBS_RELEASEDELAY). Returns the volume as last seen.
 */
async function untilReleased(volume: CloudVolume, { cloud, config, logger, pendingDetaches }: ReleaseDeps, signal: AbortSignal): Promise<CloudVolume> {
  const me = cloud.identity().instanceId;
  if (pendingDetaches.has(volume.volumeId)) {
    try {
      await pendingDetaches.detachNow(volume.volumeId, signal);
    } catch (err) {
      throw new BerthError('in-use', `volume ${volume.name} (${volume.volumeId}) is still being detached from this instance in the background (${errorMessage(err)}); try again shortly`);
    }
    volume = (await cloud.describe(volume.volumeId, signal)) ?? volume;
  }
  const leaving = (latest: CloudVolume) => {
    const here = attachmentTo(latest, me);
    return here && (here.state === 'detaching' || here.state === 'busy') ? here : heldElsewhere(latest, me);
  };
  return waitWhileHeld(volume, leaving, { timeoutMs: config.releaseWaitMs, signal, logMessage: 'volume still attached; waiting for it to be released before removing it' }, { cloud, logger });
}
