/**
 * `docker volume rm` (also whatever removes volumes through Docker's API): EBS_REMOVE decides whether
 * the EBS volume is deleted, retained, or snapshotted and then deleted. Adopted REX-Ray volumes are only deleted
 * when EBS_REMOVE=delete is set explicitly.
 */
import { BerthError } from '../errors';
import type { ServiceDeps } from './service';

export async function removeVolume(name: string, { cloud, config, logger }: ServiceDeps): Promise<void> {
  const volume = await cloud.findByName(name);
  if (!volume) return;
  const holder = volume.attachments.find((attachment) => attachment.state !== 'detached');
  if (holder) {
    throw new BerthError(
      'in-use',
      `volume ${name} (${volume.volumeId}) is attached to instance ${holder.instanceId} as ${holder.device}; it is removed only once no host uses it`,
    );
  }
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
