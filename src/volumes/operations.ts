/**
 * What the volume service offers every front door (Docker's VolumeDriver API today). A door calls these and
 * nothing below them, and turns the answers into its own protocol's shapes.
 */

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
