/** Records as EC2 writes them in XML (element names as the SDK's deserializer reads them). */
import { regionOfZone, zoneIdOf } from './ids';
import { instanceTypeInfo } from './instance-types';
import type { AttachmentRecord, InstanceRecord, ModificationRecord, SnapshotRecord, VolumeRecord } from './state';
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

export function snapshotXml(snapshot: SnapshotRecord, ownerId: string): XmlObject {
  return {
    snapshotId: snapshot.id,
    volumeId: snapshot.volumeId,
    status: snapshot.state,
    startTime: snapshot.startTime,
    completionTime: snapshot.completionTime,
    progress: snapshot.state === 'completed' ? '100%' : '0%',
    ownerId,
    volumeSize: snapshot.volumeSizeGiB,
    description: snapshot.description,
    encrypted: snapshot.encrypted,
    kmsKeyId: snapshot.kmsKeyId,
    storageTier: 'standard',
    tagSet: tagSet(snapshot.tags),
  };
}

export function modificationXml(modification: ModificationRecord): XmlObject {
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
    progress: modification.progress,
    startTime: modification.startTime,
    endTime: modification.endTime,
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
    instanceState: { code: 16, name: 'running' },
    privateDnsName: '',
    dnsName: '',
    reason: '',
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
    tagSet: tagSet(instance.tags),
    ebsOptimized: info.hypervisor === 'nitro',
    enaSupport: info.hypervisor === 'nitro',
    metadataOptions: {
      state: 'applied',
      httpTokens: instance.imdsv2,
      httpPutResponseHopLimit: 2,
      httpEndpoint: 'enabled',
    },
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
