/** How a volume is shown: the facts a user wants about the EBS volume behind a Docker volume. */
import { holderOf } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import type { VolumeView } from './operations';

export function viewOf(volume: CloudVolume, mountpoint: string | undefined, stale: boolean): VolumeView {
  const attachment = holderOf(volume);
  const status: Record<string, unknown> = {
    volumeId: volume.volumeId,
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    ...(volume.iops !== undefined ? { iops: volume.iops } : {}),
    ...(volume.throughput !== undefined ? { throughputMiBps: volume.throughput } : {}),
    encrypted: volume.encrypted,
    ...(volume.kmsKeyId ? { kmsKeyId: volume.kmsKeyId } : {}),
    availabilityZone: volume.availabilityZone,
    state: volume.state,
    attachedTo: attachment?.instanceId ?? '',
    device: attachment?.device ?? '',
    attachmentState: attachment?.state ?? '',
    fsType: volume.format.fsType,
    formatted: !volume.unformatted,
    ...(volume.snapshotId ? { snapshotId: volume.snapshotId } : {}),
    ...(volume.owner === 'rexray' ? { adoptedFrom: 'rexray' } : {}),
  };
  if (stale) status.stale = 'EC2 unreachable: last known state shown';
  return {
    name: volume.name,
    createdAt: volume.createTime.toISOString(),
    ...(mountpoint ? { mountpoint } : {}),
    status,
  };
}
