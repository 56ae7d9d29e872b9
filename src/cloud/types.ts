/** What the volume service needs from EC2 and instance metadata. Implemented by src/cloud/ebs.ts. */
import type { FsType } from '../common/filesystems';

export type { FsType };

export interface InstanceIdentity {
  instanceId: string;
  region: string;
  availabilityZone: string;
  instanceType: string;
}

export type CrossAZPolicy = 'refuse' | 'snapshot';

/** How a volume is formatted and presented at first mount; stored in the volume's tags. */
export interface FormatSpec {
  fsType: FsType;
  /** Validated mkfs arguments from the allow-list (see src/volumes/mkfs-options.ts), e.g. ['-b', '4096']. */
  mkfsOptions: string[];
  uid?: number;
  gid?: number;
  /** Mode of the data directory, e.g. 0o755. */
  mode?: number;
}

export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
export type AttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';

export interface Attachment {
  instanceId: string;
  device: string;
  state: AttachmentState;
}

export interface CloudVolume {
  volumeId: string;
  /** The Docker volume name (the Name tag without the EBS_TAG namespace prefix). */
  name: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  availabilityZone: string;
  state: VolumeState;
  createTime: Date;
  snapshotId?: string;
  attachments: Attachment[];
  tags: Record<string, string>;
  /** 'berth' when berth created it; 'rexray' when adopted from REX-Ray's Name tag only (EBS_ADOPTREXRAY). */
  owner: 'berth' | 'rexray';
  format: FormatSpec;
  /** Still carries berth's "unformatted" marker: the only state in which berth may run mkfs. */
  unformatted: boolean;
  crossAZ: CrossAZPolicy;
}

/** A volume to create, every default already decided (src/volumes/options.ts): the cloud sends it as it is. */
export interface CreateVolumeSpec {
  name: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  /** Only with encrypted; without it EC2 uses the account's default EBS key. */
  kmsKeyId?: string;
  availabilityZone: string;
  snapshotId?: string;
  extraTags: Record<string, string>;
  format: FormatSpec;
  /** What a Mount in another availability zone does: refuse (default) or move the volume there through a snapshot. */
  crossAZ?: CrossAZPolicy;
}

/** What a modification asks EC2 to change; what is left out stays. */
export interface VolumeChange {
  sizeGiB?: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
}

/** The latest modification of a volume, as EC2 keeps it. */
export interface VolumeModification {
  volumeId: string;
  state: 'modifying' | 'optimizing' | 'completed' | 'failed';
  /** 0-100. */
  progress?: number;
  statusMessage?: string;
  targetSizeGiB: number;
  targetVolumeType: string;
  targetIops?: number;
  targetThroughput?: number;
  originalSizeGiB: number;
  startTime: Date;
  endTime?: Date;
}

export interface InstanceState {
  state: string;
  availabilityZone?: string;
}

export interface CloudSnapshot {
  snapshotId: string;
  volumeId: string;
  /** From berth's tags: the Docker volume name and namespace it was taken in ('' when untagged). */
  volumeName: string;
  namespace: string;
  /** pending, completed, error (EC2's). */
  state: string;
  /** 0-100. */
  progress: number;
  sizeGiB: number;
  startTime: Date;
  stateMessage?: string;
  tags: Record<string, string>;
}

export interface DetachOptions {
  /** Detach from this instance (default: this host's). Every normal detach names this instance. */
  instanceId?: string;
  force?: boolean;
  /** This host's detach only: resolves once the device (EC2's name for it given) is gone from this machine. */
  deviceGone?: (deviceName: string, signal: AbortSignal) => Promise<unknown>;
}

export interface AttachOptions {
  /** Resolves once the attached device shows up on this machine; a failure is left to the caller's own lookup. */
  deviceAppeared?: (deviceName: string, signal: AbortSignal) => Promise<unknown>;
}

export interface LookupOptions {
  /**
   * An answer this host had from EC2 within the last second, with no change asked for since, may stand in (the
   * look-up just before an attach or a delete: EC2 itself refuses those when the volume changed meanwhile).
   */
  acceptRecent?: boolean;
}

export type KeepVolume = (listed: CloudVolume) => CloudVolume;

export interface Cloud {
  identity(): InstanceIdentity;
  /** How long EC2 usually takes here to detach a volume, in ms (undefined before this host saw one). */
  usualDetachMs(): number | undefined;
  /** The berth-owned volume of this namespace with this name (or an adopted REX-Ray one), region-wide. */
  findByName(name: string, signal?: AbortSignal, options?: LookupOptions): Promise<CloudVolume | undefined>;
  /**
   * Every volume of this namespace, region-wide (paginated underneath). `keep` sees each volume as its page
   * arrives and answers what to keep of it: the caller's own equal copy lets the listing's die young.
   */
  listVolumes(signal?: AbortSignal, keep?: KeepVolume): Promise<CloudVolume[]>;
  /** One volume by id; concurrent calls are batched into one DescribeVolumes. */
  describe(volumeId: string, signal?: AbortSignal, options?: LookupOptions): Promise<CloudVolume | undefined>;
  /** Idempotent create (ClientToken with generation); resolves once the volume is `available`. */
  create(spec: CreateVolumeSpec, signal?: AbortSignal): Promise<CloudVolume>;
  delete(volumeId: string, signal?: AbortSignal): Promise<void>;
  /** Starts a snapshot and returns its id (does not wait for completion). */
  snapshot(volumeId: string, description: string, signal?: AbortSignal): Promise<string>;
  /**
   * Attaches to this instance (reusing an existing attachment here) and resolves with the device name once attached,
   * or once `options.deviceAppeared` resolves: a device on this machine is a finished attachment, whatever EC2 says.
   */
  attach(volumeId: string, signal: AbortSignal, options?: AttachOptions): Promise<string>;
  /**
   * Detaches and waits until detached, or once `options.deviceGone` resolves: a device gone from this machine is a
   * finished detach here, whatever EC2 says yet. "Already detached" counts as success.
   */
  detach(volumeId: string, options: DetachOptions, signal: AbortSignal): Promise<void>;
  /**
   * Takes a volume out of service without deleting it: berth's ownership tags (namespace, name) are removed and
   * `berth:retired` = `<reason> <name> <ISO time>` is added, so no lookup by name finds it again.
   */
  retire(volumeId: string, reason: 'retained' | 'moved', signal?: AbortSignal): Promise<void>;
  /**
   * Moves a volume no instance uses to another availability zone: snapshot, wait for it, create the volume there
   * from the snapshot with the same name and options (one volume even when several hosts race), retire the old
   * one (never deleted). Resolves with the new, available volume.
   */
  moveToZone(volume: CloudVolume, availabilityZone: string, signal?: AbortSignal): Promise<CloudVolume>;
  /** Removes the "unformatted" marker after mkfs. */
  markFormatted(volumeId: string, signal?: AbortSignal): Promise<void>;
  /** The availability zones of this region (cached). */
  availabilityZones(signal?: AbortSignal): Promise<string[]>;
  /** ModifyVolume: resolves with the modification EC2 started (it goes on in EC2). */
  modifyVolume(volumeId: string, change: VolumeChange, signal?: AbortSignal): Promise<VolumeModification>;
  /** The latest modification of the volume; undefined when it was never modified. */
  latestModification(volumeId: string, signal?: AbortSignal): Promise<VolumeModification | undefined>;
  /** Starts a snapshot of the volume named `name`, tagged as berth's in this namespace plus `tags`; does not wait. */
  createSnapshot(volumeId: string, name: string, description: string, tags: Record<string, string>, signal?: AbortSignal): Promise<string>;
  describeSnapshot(snapshotId: string, signal?: AbortSignal): Promise<CloudSnapshot | undefined>;
  /** This namespace's snapshots, of one volume name when given, newest first. */
  listSnapshots(volumeName?: string, signal?: AbortSignal): Promise<CloudSnapshot[]>;
  /** Deletes a snapshot berth made in this namespace; refuses ('in-use') any other. */
  deleteSnapshot(snapshotId: string, signal?: AbortSignal): Promise<void>;
  /** Another instance's EC2 state (running, stopping, stopped, terminated…, or 'gone' when EC2 knows it no more) and zone. */
  describeInstance(instanceId: string, signal?: AbortSignal): Promise<InstanceState>;
  /**
   * Attaches to another instance of the account (the node a cluster volume is published to), reusing an attachment
   * there; resolves with the device name once EC2 says attached. Refuses ('attached-elsewhere') a volume another holds.
   */
  attachTo(volumeId: string, instanceId: string, signal: AbortSignal): Promise<string>;
  /** Throttled calls retried so far (for logs and benchmarks). */
  throttledCount(): number;
}
