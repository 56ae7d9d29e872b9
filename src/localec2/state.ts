/**
 * The simulator's persistent model: plain JSON records, written atomically to <data-dir>/state.json after
 * every change, so a restarted endpoint finds its volumes, attachments, client tokens and issued credentials.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A volume's own lifecycle; "in-use" is derived from having an attachment. */
export type VolumeLifecycle = 'creating' | 'available' | 'deleting' | 'error';
export type AttachmentStatus = 'attaching' | 'attached' | 'detaching' | 'busy';

export interface AttachmentRecord {
  instanceId: string;
  device: string;
  status: AttachmentStatus;
  attachTime: string;
  deleteOnTermination: boolean;
  /** Distinguishes successive attachments of one volume, so a late timer never completes a newer one. */
  seq: number;
  /** Set by a forced detach: mounted filesystems are shut down rather than waited for. */
  forced?: boolean;
  /** Host side, once attached: the loop device and the link the instance sees. */
  loopDevice?: string;
  link?: string;
  /** The "device never appears" fault was active: attached in the API, nothing on the host. */
  deviceHidden?: boolean;
}

export interface VolumeRecord {
  id: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  availabilityZone: string;
  lifecycle: VolumeLifecycle;
  createTime: string;
  snapshotId?: string;
  tags: Record<string, string>;
  attachment?: AttachmentRecord;
  /** Set on an instance's root volume: it has no backing file and cannot be detached. */
  rootOf?: string;
  /** When each ModifyVolume of the last 24 hours started (EC2 allows four in a rolling 24 hours). */
  modificationStarts?: string[];
}

export type SnapshotState = 'pending' | 'completed' | 'error';

export interface SnapshotRecord {
  id: string;
  volumeId: string;
  volumeSizeGiB: number;
  description: string;
  state: SnapshotState;
  region: string;
  startTime: string;
  completionTime?: string;
  encrypted: boolean;
  kmsKeyId?: string;
  tags: Record<string, string>;
}

export type ModificationState = 'modifying' | 'optimizing' | 'completed' | 'failed';

export interface ModificationRecord {
  volumeId: string;
  state: ModificationState;
  originalSize: number;
  originalVolumeType: string;
  originalIops?: number;
  originalThroughput?: number;
  targetSize: number;
  targetVolumeType: string;
  targetIops?: number;
  targetThroughput?: number;
  progress: number;
  startTime: string;
  endTime?: string;
}

export type DeviceNaming = 'xvd' | 'nitro';

export type InstanceStateName = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

/** Why the instance last changed state, as DescribeInstances' stateReason shows it. */
export interface StateReason {
  code: string;
  message: string;
}

export interface InstanceRecord {
  id: string;
  availabilityZone: string;
  instanceType: string;
  devices: DeviceNaming;
  deviceDir: string;
  imdsv2: 'required' | 'optional';
  /** The requested metadata listen address (host:port or unix:path); port 0 picks a new one each start. */
  imdsListen: string;
  role: string;
  /** Overrides the instance type's data-volume attachment limit. */
  maxVolumes?: number;
  rootVolumeId: string;
  imageId: string;
  reservationId: string;
  launchTime: string;
  tags: Record<string, string>;
  /** Absent in state files written before instances had a lifecycle: those are running. */
  state?: InstanceStateName;
  /** EC2's StateTransitionReason, e.g. "User initiated (2024-05-01 12:00:00 GMT)". */
  stateTransitionReason?: string;
  stateReason?: StateReason;
  /** The metadata option HttpPutResponseHopLimit (EC2's default: 1). */
  hopLimit?: number;
}

export const DEFAULT_HOP_LIMIT = 1;

export function instanceState(instance: InstanceRecord): InstanceStateName {
  return instance.state ?? 'running';
}

export interface ClientTokenRecord {
  fingerprint: string;
  volumeId: string;
  /** The volume as CreateVolume first returned it: a retry gets the same answer, even after deletion. */
  response: VolumeRecord;
}

export interface TemporaryCredential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  instanceId: string;
  role: string;
  lastUpdated: string;
  expiration: string;
}

export interface LocalEc2State {
  version: 1;
  volumes: Record<string, VolumeRecord>;
  snapshots: Record<string, SnapshotRecord>;
  /** The latest modification of each volume, by volume id. */
  modifications: Record<string, ModificationRecord>;
  instances: Record<string, InstanceRecord>;
  clientTokens: Record<string, ClientTokenRecord>;
  credentials: Record<string, TemporaryCredential>;
  attachmentSeq: number;
}

export function emptyState(): LocalEc2State {
  return {
    version: 1,
    volumes: {},
    snapshots: {},
    modifications: {},
    instances: {},
    clientTokens: {},
    credentials: {},
    attachmentSeq: 0,
  };
}

export function stateFile(dataDir: string): string {
  return path.join(dataDir, 'state.json');
}

export function readState(dataDir: string): LocalEc2State | undefined {
  let text: string;
  try {
    text = fs.readFileSync(stateFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as LocalEc2State;
  if (parsed.version !== 1) throw new Error(`${stateFile(dataDir)}: unsupported state version ${String(parsed.version)}`);
  return { ...emptyState(), ...parsed };
}

/** Holds the state in memory and writes it with write-to-temp, fsync, rename, so a crash never leaves half a file. */
export class StateStore {
  private constructor(
    readonly dataDir: string,
    readonly state: LocalEc2State,
  ) {}

  static open(dataDir: string): StateStore {
    return new StateStore(dataDir, readState(dataDir) ?? emptyState());
  }

  save(): void {
    const target = stateFile(this.dataDir);
    const temp = `${target}.tmp-${process.pid}`;
    const fd = fs.openSync(temp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(this.state, null, 1));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, target);
  }
}
