/**
 * The simulated instances: made from --instance specs, kept in the state across restarts (with their
 * attachments), each with a root volume at /dev/xvda like a real EBS-backed instance.
 */
import path from 'node:path';
import { newImageId, newInstanceId, newReservationId, newVolumeId, isInstanceId, isZoneName } from './ids';
import type { DeviceNaming, InstanceRecord, LocalEc2State } from './state';

export interface InstanceSpec {
  id?: string;
  az?: string;
  /** Metadata listen address: host:port (port 0 picks one) or unix:<path>. Default 127.0.0.1:0. */
  imds?: string;
  /** Where the instance's device links go. Default <data-dir>/dev-<id>. */
  devdir?: string;
  devices?: DeviceNaming;
  imdsv2?: 'required' | 'optional';
  /** The metadata option HttpPutResponseHopLimit, 1 to 64 (EC2's default 1). */
  hopLimit?: number;
  type?: string;
  /** Overrides the instance type's data-volume attachment limit. */
  maxVolumes?: number;
  /** Instance role name served by the metadata service. */
  role?: string;
}

export const DEFAULT_ZONE = 'us-east-1a';
export const DEFAULT_INSTANCE_TYPE = 'm5.large';
export const DEFAULT_ROLE = 'berth-local-instance-role';
const ROOT_VOLUME_GIB = 8;
/** What ModifyInstanceMetadataOptions accepts for HttpPutResponseHopLimit. */
export const MAX_HOP_LIMIT = 64;

export function checkInstanceSpec(spec: InstanceSpec): void {
  if (spec.id !== undefined && !isInstanceId(spec.id)) throw new Error(`instance id ${JSON.stringify(spec.id)}: expected i- and 17 hex digits`);
  if (spec.az !== undefined && !isZoneName(spec.az)) throw new Error(`instance az ${JSON.stringify(spec.az)}: expected a zone name such as us-east-1a`);
  if (spec.devices !== undefined && spec.devices !== 'xvd' && spec.devices !== 'nitro') throw new Error(`instance devices must be xvd or nitro`);
  if (spec.imdsv2 !== undefined && spec.imdsv2 !== 'required' && spec.imdsv2 !== 'optional') throw new Error(`instance imdsv2 must be required or optional`);
  if (spec.hopLimit !== undefined && !(Number.isInteger(spec.hopLimit) && spec.hopLimit >= 1 && spec.hopLimit <= MAX_HOP_LIMIT)) {
    throw new Error(`instance hoplimit must be a whole number from 1 to ${MAX_HOP_LIMIT}`);
  }
  if (spec.type !== undefined && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(spec.type)) throw new Error(`instance type ${JSON.stringify(spec.type)} is not an instance type name`);
  if (spec.maxVolumes !== undefined && !(Number.isInteger(spec.maxVolumes) && spec.maxVolumes >= 0)) throw new Error('instance maxvolumes must be a whole number');
  if (spec.role !== undefined && !/^[\w+=,.@-]{1,64}$/.test(spec.role)) throw new Error(`instance role ${JSON.stringify(spec.role)} is not a valid role name`);
}

function createInstance(state: LocalEc2State, spec: InstanceSpec, dataDir: string): InstanceRecord {
  const id = spec.id ?? newInstanceId();
  const launchTime = new Date().toISOString();
  const rootVolumeId = newVolumeId();
  const instance: InstanceRecord = {
    id,
    availabilityZone: spec.az ?? DEFAULT_ZONE,
    instanceType: spec.type ?? DEFAULT_INSTANCE_TYPE,
    devices: spec.devices ?? 'xvd',
    deviceDir: path.resolve(spec.devdir ?? path.join(dataDir, `dev-${id}`)),
    imdsv2: spec.imdsv2 ?? 'optional',
    imdsListen: spec.imds ?? '127.0.0.1:0',
    role: spec.role ?? DEFAULT_ROLE,
    maxVolumes: spec.maxVolumes,
    rootVolumeId,
    imageId: newImageId(),
    reservationId: newReservationId(),
    launchTime,
    tags: {},
    state: 'running',
    hopLimit: spec.hopLimit,
  };
  state.instances[id] = instance;
  state.attachmentSeq += 1;
  state.volumes[rootVolumeId] = {
    id: rootVolumeId,
    sizeGiB: ROOT_VOLUME_GIB,
    volumeType: 'gp3',
    iops: 3000,
    throughput: 125,
    encrypted: false,
    availabilityZone: instance.availabilityZone,
    lifecycle: 'available',
    createTime: launchTime,
    tags: {},
    rootOf: id,
    attachment: {
      instanceId: id,
      device: '/dev/xvda',
      status: 'attached',
      attachTime: launchTime,
      deleteOnTermination: true,
      seq: state.attachmentSeq,
    },
  };
  return instance;
}

/** An instance that is already known keeps its id, root volume and attachments; the spec's fields win. */
function updateInstance(instance: InstanceRecord, spec: InstanceSpec): void {
  if (spec.az !== undefined) instance.availabilityZone = spec.az;
  if (spec.type !== undefined) instance.instanceType = spec.type;
  if (spec.devices !== undefined) instance.devices = spec.devices;
  if (spec.devdir !== undefined) instance.deviceDir = path.resolve(spec.devdir);
  if (spec.imdsv2 !== undefined) instance.imdsv2 = spec.imdsv2;
  if (spec.imds !== undefined) instance.imdsListen = spec.imds;
  if (spec.role !== undefined) instance.role = spec.role;
  if (spec.hopLimit !== undefined) instance.hopLimit = spec.hopLimit;
  instance.maxVolumes = spec.maxVolumes;
}

/**
 * Applies the specs to the state. Instances from earlier runs stay (EC2 does not forget an instance
 * that holds volumes); with no spec at all and no earlier instance, one default instance is made.
 */
export function setUpInstances(state: LocalEc2State, specs: InstanceSpec[], dataDir: string): InstanceRecord[] {
  specs.forEach(checkInstanceSpec);
  const ids = specs.map((spec) => spec.id).filter((id): id is string => id !== undefined);
  if (new Set(ids).size !== ids.length) throw new Error('the same instance id is given twice');
  for (const spec of specs) {
    const known = spec.id !== undefined ? state.instances[spec.id] : undefined;
    if (!known) {
      createInstance(state, spec, dataDir);
      continue;
    }
    updateInstance(known, spec);
    const root = state.volumes[known.rootVolumeId];
    if (root) root.availabilityZone = known.availabilityZone;
  }
  if (Object.keys(state.instances).length === 0) createInstance(state, {}, dataDir);
  return Object.values(state.instances);
}
