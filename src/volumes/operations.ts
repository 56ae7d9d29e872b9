/**
 * What the volume service offers every front door (Docker's VolumeDriver API today). A door calls these and
 * nothing below them, and turns the answers into its own protocol's shapes.
 */
import type { CheckOutcome, DoctorCheck } from '../common/checks';

export type { CheckOutcome, DoctorCheck };

/** A volume as the service shows it. */
export interface VolumeView {
  name: string;
  /** RFC 3339. */
  createdAt: string;
  /** The directory a container gets, while the volume is mounted on this host. */
  mountpoint?: string;
  /** The facts a user wants about the EBS volume behind it (`docker volume inspect` shows them as Status). */
  status?: Record<string, unknown>;
}

/** What this host holds now, from its own state (never asking EC2): for the metrics door. */
export interface VolumeUsage {
  /** Volumes of the namespace in the volume cache. */
  known: number;
  /** Volumes mounted on this host, with how many containers use each. */
  mounted: Array<{ name: string; users: number }>;
}

export interface VolumeUsageSource {
  usage(): VolumeUsage;
}

export interface VolumeOperations {
  create(name: string, opts: Record<string, string> | null): Promise<void>;
  remove(name: string): Promise<void>;
  /** Resolves with the directory to hand the container. `signal` aborts when the caller hangs up: the Mount rolls back. */
  mount(name: string, id: string, signal: AbortSignal): Promise<string>;
  unmount(name: string, id: string): Promise<void>;
  path(name: string): Promise<string | undefined>;
  get(name: string): Promise<VolumeView | undefined>;
  list(): Promise<VolumeView[]>;
}

/* The day-two operations (the admin door, src/admin/, and the CLI show these as they are). */

export interface AdminModification {
  /** EC2's modification state: modifying, optimizing, completed or failed. */
  state: string;
  /** EC2's progress, 0-100. */
  progress?: number;
  targetSizeGiB: number;
  targetVolumeType: string;
  targetIops?: number;
  targetThroughput?: number;
  startTime: string;
  endTime?: string;
}

export interface AdminVolume {
  name: string;
  volumeId: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  availabilityZone: string;
  /** EC2's volume state. */
  state: string;
  /** The instance it is attached to, if any ('' when none). */
  attachedTo: string;
  attachmentState: string;
  /** Mounted on this host: how many containers use it here. */
  mountedHere: boolean;
  users: number;
  fsType: string;
  formatted: boolean;
  createdAt: string;
  snapshotId?: string;
  /** The latest modification EC2 knows of (inspect only). */
  modification?: AdminModification;
}

export interface VolumeChange {
  /** New size in GiB: only ever larger. */
  sizeGiB?: number;
  volumeType?: string;
  iops?: number;
  /** MiB/s (gp3 only). */
  throughput?: number;
}

/** What became of the filesystem after a modification. */
export type FilesystemGrowth =
  /** Grown online: the container sees the new size now. */
  | 'grown'
  /** Grown when the volume is next mounted (it is not mounted here, or online growth needs a permission berth lacks). */
  | 'at-next-mount'
  /** The size did not change. */
  | 'unchanged';

export interface ModifyResult {
  volume: AdminVolume;
  filesystem: FilesystemGrowth;
  /** One sentence for the user (why the filesystem waits for the next mount, say). */
  message: string;
  /** Seconds from the call to the new size being usable by the filesystem. */
  seconds: number;
}

export interface ReleaseResult {
  name: string;
  volumeId: string;
  /** The instance that held it ('' when it was attached to none). */
  releasedFrom: string;
  /** That instance's EC2 state when released (running, stopped, terminated, or unknown). */
  holderState: string;
  forced: boolean;
}

export interface AdminSnapshot {
  snapshotId: string;
  /** The Docker volume name it was taken of. */
  volume: string;
  volumeId: string;
  state: string;
  /** EC2's progress, 0-100. */
  progress: number;
  sizeGiB: number;
  startTime: string;
  tags: Record<string, string>;
}

export interface DoctorReport {
  checks: DoctorCheck[];
}

export interface ProgressEvent {
  /** What is being waited for: 'modifying', 'optimizing', 'growing', 'snapshot', 'waiting', 'detaching'. */
  step: string;
  message: string;
  /** 0-100 when EC2 reports it. */
  percent?: number;
}

/** Told of each step of a long wait; the admin door streams them. */
export type ProgressListener = (event: ProgressEvent) => void;

/** Day-two operations on the volumes of this namespace: each runs under the volume's lock, as Docker's calls do. */
export interface AdminOperations {
  volumes(): Promise<AdminVolume[]>;
  /** Asks EC2 now; includes the latest modification. */
  inspect(name: string): Promise<AdminVolume>;
  modify(name: string, change: VolumeChange, progress: ProgressListener, signal: AbortSignal): Promise<ModifyResult>;
  release(name: string, force: boolean, signal: AbortSignal): Promise<ReleaseResult>;
  createSnapshot(name: string, tags: Record<string, string>, progress: ProgressListener, signal: AbortSignal): Promise<AdminSnapshot>;
  snapshots(volume?: string): Promise<AdminSnapshot[]>;
  removeSnapshot(snapshotId: string): Promise<void>;
}

/* Swarm cluster volumes (the CSI door, src/csi/): the same volume service, split as CSI splits a mount. */

/** A cluster volume; its CSI volume id is its name (stable across zone moves, which change the EBS volume id). */
export interface ClusterVolume {
  name: string;
  volumeId: string;
  sizeGiB: number;
  availabilityZone: string;
  /** Instances it is attached to. */
  attachedTo: string[];
}

export interface ClusterNode {
  /** This instance's id: the CSI node id. */
  nodeId: string;
  availabilityZone: string;
  /** How many more volumes this instance can have attached. */
  maxVolumes: number;
}

export interface ClusterOperations {
  /** Creates the volume, or answers the existing one of that name; `options` are berth's `-o` options, validated as for Docker. */
  createVolume(name: string, options: Record<string, string>): Promise<ClusterVolume>;
  /** Deletes (or retains, as EBS_REMOVE says); a volume already gone is no error. */
  deleteVolume(name: string): Promise<void>;
  describeVolume(name: string): Promise<ClusterVolume | undefined>;
  listVolumes(): Promise<ClusterVolume[]>;
  /**
   * Controller side: attaches the volume to the node's instance (never simply this one), after another node let it
   * go (or preempting it, as configured), moving it into the node's zone first when its crossAZ option allows.
   * Resolves with what the node needs to find the device.
   */
  publishToNode(name: string, nodeId: string, signal: AbortSignal): Promise<Record<string, string>>;
  /** Controller side: detaches it from the node's instance; not attached there is no error. */
  unpublishFromNode(name: string, nodeId: string, signal: AbortSignal): Promise<void>;
  /** Node side: finds the device, formats it once (only a volume berth created empty), checks and mounts it at stagingPath. */
  stage(name: string, publishContext: Record<string, string>, stagingPath: string, signal: AbortSignal): Promise<void>;
  unstage(name: string, stagingPath: string): Promise<void>;
  /** Node side: binds the staged filesystem's data directory at targetPath. */
  publish(name: string, stagingPath: string, targetPath: string, readonly: boolean): Promise<void>;
  /** Node side: removes the bind at targetPath; the last one of a volume on this node unstages it too. */
  unpublish(name: string, targetPath: string): Promise<void>;
  node(): ClusterNode;
}
