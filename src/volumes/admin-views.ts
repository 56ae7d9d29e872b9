/** How the day-two commands show a volume and a snapshot. */
import { holderOf } from '../cloud/attachments';
import type { CloudSnapshot, CloudVolume, VolumeModification } from '../cloud/types';
import type { ReleaseDeps } from './deps';
import type { AdminModification, AdminSnapshot, AdminVolume } from './operations';

export function adminView(volume: CloudVolume, { refcounts }: Pick<ReleaseDeps, 'refcounts'>, modification?: VolumeModification): AdminVolume {
  const holder = holderOf(volume);
  const record = refcounts.get(volume.name);
  const mountedHere = record?.volumeId === volume.volumeId;
  return {
    name: volume.name,
    volumeId: volume.volumeId,
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    ...(volume.iops !== undefined && { iops: volume.iops }),
    ...(volume.throughput !== undefined && { throughput: volume.throughput }),
    encrypted: volume.encrypted,
    availabilityZone: volume.availabilityZone,
    state: volume.state,
    attachedTo: holder?.instanceId ?? '',
    attachmentState: holder?.state ?? '',
    mountedHere,
    users: mountedHere ? refcounts.users(volume.name) : 0,
    fsType: volume.format.fsType,
    formatted: !volume.unformatted,
    createdAt: volume.createTime.toISOString(),
    ...(volume.snapshotId && { snapshotId: volume.snapshotId }),
    ...(modification && { modification: modificationView(modification) }),
  };
}

function modificationView(modification: VolumeModification): AdminModification {
  return {
    state: modification.state,
    ...(modification.progress !== undefined && { progress: modification.progress }),
    targetSizeGiB: modification.targetSizeGiB,
    targetVolumeType: modification.targetVolumeType,
    ...(modification.targetIops !== undefined && { targetIops: modification.targetIops }),
    ...(modification.targetThroughput !== undefined && { targetThroughput: modification.targetThroughput }),
    startTime: modification.startTime.toISOString(),
    ...(modification.endTime && { endTime: modification.endTime.toISOString() }),
  };
}

export function snapshotView(snapshot: CloudSnapshot): AdminSnapshot {
  return {
    snapshotId: snapshot.snapshotId,
    volume: snapshot.volumeName,
    volumeId: snapshot.volumeId,
    state: snapshot.state,
    progress: snapshot.progress,
    sizeGiB: snapshot.sizeGiB,
    startTime: snapshot.startTime.toISOString(),
    tags: snapshot.tags,
  };
}
