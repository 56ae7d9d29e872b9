/**
 * `docker volume rm` (also whatever removes volumes through Docker's API): EBS_REMOVE decides whether
 * the EBS volume is deleted, retained, or snapshotted and then deleted. Adopted REX-Ray volumes are only deleted
 * when EBS_REMOVE=delete is set explicitly.
 */
import { attachedElsewhereError, holderOf } from '../cloud/attachments';
import type { ServiceDeps } from './deps';

export async function removeVolume(name: string, { cloud, config, logger }: ServiceDeps): Promise<void> {
  const volume = await cloud.findByName(name);
  if (!volume) return;
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
