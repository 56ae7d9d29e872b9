/** berth's cluster volumes and nodes in CSI's shapes. */
import type { ClusterVolume } from '../volumes/operations';
import type { Message } from './fields';

/** The topology segment of an availability zone: a volume can be attached only to an instance of its zone. */
export const ZONE_SEGMENT = 'topology.ebs.csi.berth/zone';

export const GIB = 2 ** 30;

export function zoneTopology(zone: string): Message {
  return { segments: { [ZONE_SEGMENT]: zone } };
}

/** The CSI volume id is the name: it stays while a zone move changes the EBS volume id. */
export function csiVolume(volume: ClusterVolume, contentSource?: Message): Message {
  return {
    volume_id: volume.name,
    capacity_bytes: volume.sizeGiB * GIB,
    volume_context: { volumeId: volume.volumeId },
    accessible_topology: volume.availabilityZone ? [zoneTopology(volume.availabilityZone)] : [],
    ...(contentSource ? { content_source: contentSource } : {}),
  };
}
