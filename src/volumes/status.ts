/** What `docker volume inspect` shows: the facts a user wants about the EBS volume behind a Docker volume. */
import type { VolumeInfo } from '../api/protocol';
import { holderOf } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';

export function volumeInfo(volume: CloudVolume, mountpoint: string | undefined, stale: boolean): VolumeInfo {
  const attachment = holderOf(volume);
  const status: Record<string, unknown> = {
    volumeId: volume.volumeId,
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    ...(volume.iops !== undefined ? { iops: volume.iops } : {}),
    ...(volume.throughput !== undefined ? { throughputMiBps: volume.throughput } : {}),
    encrypted: volume.encrypted,
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
    Name: volume.name,
    CreatedAt: volume.createTime.toISOString(),
    ...(mountpoint ? { Mountpoint: mountpoint } : {}),
    Status: status,
  };
}
