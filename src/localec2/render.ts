/** Records as EC2 writes them in XML (element names as the SDK's deserializer reads them). */
import { regionOfZone, zoneIdOf } from './ids';
import { instanceTypeInfo } from './instance-types';
import {
  type AttachmentRecord,
  DEFAULT_HOP_LIMIT,
  type InstanceRecord,
  type InstanceStateName,
  type ModificationRecord,
  type SnapshotRecord,
  type VolumeRecord,
  instanceState,
} from './state';
import type { XmlObject } from './xml';

export function tagSet(tags: Record<string, string>): XmlObject[] | undefined {
  const entries = Object.entries(tags);
  return entries.length ? entries.map(([key, value]) => ({ key, value })) : undefined;
}

/** What DescribeVolumes shows as the volume's state. */
export function volumeStatus(volume: VolumeRecord): string {
  if (volume.lifecycle === 'available' && volume.attachment) return 'in-use';
  return volume.lifecycle;
}

export function attachmentXml(volumeId: string, attachment: AttachmentRecord): XmlObject {
  return {
    volumeId,
    instanceId: attachment.instanceId,
    device: attachment.device,
    status: attachment.status,
    attachTime: attachment.attachTime,
    deleteOnTermination: attachment.deleteOnTermination,
  };
}

export function volumeXml(volume: VolumeRecord): XmlObject {
  return {
    volumeId: volume.id,
    size: volume.sizeGiB,
    snapshotId: volume.snapshotId ?? '',
    availabilityZone: volume.availabilityZone,
    availabilityZoneId: zoneIdOf(volume.availabilityZone),
    status: volumeStatus(volume),
    createTime: volume.createTime,
    attachmentSet: volume.attachment ? [attachmentXml(volume.id, volume.attachment)] : [],
    tagSet: tagSet(volume.tags),
    volumeType: volume.volumeType,
    iops: volume.iops,
    throughput: volume.throughput,
    encrypted: volume.encrypted,
    kmsKeyId: volume.kmsKeyId,
    multiAttachEnabled: false,
  };
}

/** `progress` as EC2 writes it, "NN%" (see progress.ts). */
export function snapshotXml(snapshot: SnapshotRecord, ownerId: string, progress: string): XmlObject {
  return {
    snapshotId: snapshot.id,
    volumeId: snapshot.volumeId,
    status: snapshot.state,
    startTime: snapshot.startTime,
    completionTime: snapshot.completionTime,
    progress,
    ownerId,
    volumeSize: snapshot.volumeSizeGiB,
    description: snapshot.description,
    encrypted: snapshot.encrypted,
    kmsKeyId: snapshot.kmsKeyId,
    storageTier: 'standard',
    tagSet: tagSet(snapshot.tags),
  };
}

/** `progress` 0-100 (see progress.ts). */
export function modificationXml(modification: ModificationRecord, progress: number): XmlObject {
  return {
    volumeId: modification.volumeId,
    modificationState: modification.state,
    targetSize: modification.targetSize,
    targetIops: modification.targetIops,
    targetVolumeType: modification.targetVolumeType,
    targetThroughput: modification.targetThroughput,
    targetMultiAttachEnabled: false,
    originalSize: modification.originalSize,
    originalIops: modification.originalIops,
    originalVolumeType: modification.originalVolumeType,
    originalThroughput: modification.originalThroughput,
    originalMultiAttachEnabled: false,
    progress,
    startTime: modification.startTime,
    endTime: modification.endTime,
  };
}

/** EC2's InstanceState codes (the low byte; EC2 documents the high byte as internal). */
const INSTANCE_STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export function instanceStateXml(name: InstanceStateName): XmlObject {
  return { code: INSTANCE_STATE_CODES[name], name };
}

export function instanceStateCode(name: InstanceStateName): number {
  return INSTANCE_STATE_CODES[name];
}

export function metadataOptionsXml(instance: InstanceRecord, state: 'pending' | 'applied'): XmlObject {
  return {
    state,
    httpTokens: instance.imdsv2,
    httpPutResponseHopLimit: instance.hopLimit ?? DEFAULT_HOP_LIMIT,
    httpEndpoint: 'enabled',
    httpProtocolIpv6: 'disabled',
    instanceMetadataTags: 'disabled',
  };
}

export function instanceXml(instance: InstanceRecord, volumes: VolumeRecord[]): XmlObject {
  const attached = volumes
    .filter((volume) => volume.attachment?.instanceId === instance.id)
    .sort((a, b) => (a.attachment!.attachTime < b.attachment!.attachTime ? -1 : 1));
  const info = instanceTypeInfo(instance.instanceType);
  return {
    instanceId: instance.id,
    imageId: instance.imageId,
    instanceState: instanceStateXml(instanceState(instance)),
    privateDnsName: '',
    dnsName: '',
    reason: instance.stateTransitionReason ?? '',
    amiLaunchIndex: 0,
    productCodes: [],
    instanceType: instance.instanceType,
    launchTime: instance.launchTime,
    placement: {
      availabilityZone: instance.availabilityZone,
      availabilityZoneId: zoneIdOf(instance.availabilityZone),
      groupName: '',
      tenancy: 'default',
    },
    monitoring: { state: 'disabled' },
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    blockDeviceMapping: attached.map((volume) => ({
      deviceName: volume.attachment!.device,
      ebs: {
        volumeId: volume.id,
        status: volume.attachment!.status,
        attachTime: volume.attachment!.attachTime,
        deleteOnTermination: volume.attachment!.deleteOnTermination,
      },
    })),
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    stateReason: instance.stateReason ? { code: instance.stateReason.code, message: instance.stateReason.message } : undefined,
    tagSet: tagSet(instance.tags),
    ebsOptimized: info.hypervisor === 'nitro',
    enaSupport: info.hypervisor === 'nitro',
    metadataOptions: metadataOptionsXml(instance, 'applied'),
  };
}

export function availabilityZoneXml(zone: string): XmlObject {
  const region = regionOfZone(zone);
  return {
    zoneName: zone,
    zoneState: 'available',
    regionName: region,
    zoneId: zoneIdOf(zone),
    zoneType: 'availability-zone',
    optInStatus: 'opt-in-not-required',
    groupName: region,
    networkBorderGroup: region,
    messageSet: [],
  };
}
