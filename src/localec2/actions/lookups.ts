/** Finding resources the way EC2 does: regional, by well-formed id, NotFound otherwise. */
import { instanceNotFound, snapshotNotFound, volumeNotFound } from '../ec2-error';
import { checkInstanceId, checkSnapshotId, checkVolumeId, regionOfZone } from '../ids';
import type { InstanceRecord, LocalEc2State, SnapshotRecord, VolumeRecord } from '../state';

export function volumesInRegion(state: LocalEc2State, region: string): VolumeRecord[] {
  return Object.values(state.volumes).filter((volume) => regionOfZone(volume.availabilityZone) === region);
}

export function instancesInRegion(state: LocalEc2State, region: string): InstanceRecord[] {
  return Object.values(state.instances).filter((instance) => regionOfZone(instance.availabilityZone) === region);
}

export function snapshotsInRegion(state: LocalEc2State, region: string): SnapshotRecord[] {
  return Object.values(state.snapshots).filter((snapshot) => snapshot.region === region);
}

export function findVolume(state: LocalEc2State, region: string, id: string): VolumeRecord {
  checkVolumeId(id);
  const volume = state.volumes[id];
  if (!volume || regionOfZone(volume.availabilityZone) !== region) throw volumeNotFound(id);
  return volume;
}

export function findInstance(state: LocalEc2State, region: string, id: string): InstanceRecord {
  checkInstanceId(id);
  const instance = state.instances[id];
  if (!instance || regionOfZone(instance.availabilityZone) !== region) throw instanceNotFound(id);
  return instance;
}

export function findSnapshot(state: LocalEc2State, region: string, id: string): SnapshotRecord {
  checkSnapshotId(id);
  const snapshot = state.snapshots[id];
  if (!snapshot || snapshot.region !== region) throw snapshotNotFound(id);
  return snapshot;
}
