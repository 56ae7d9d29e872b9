/** What the volume service and its parts (mount, release, remove, zone moves) are given to work with. */
import type { Cloud } from '../cloud/types';
import type { Config } from '../config';
import type { Host } from '../host/types';
import type { Telemetry } from '../common/telemetry';
import type { Logger } from '../log';
import type { Catalog } from './catalog';
import type { PendingDetaches } from './pending-detaches';
import type { Refcounts } from './refcounts';

export type ServiceConfig = Pick<
  Config,
  | 'mountRoot'
  | 'stateDir'
  | 'tag'
  | 'fsType'
  | 'kmsKeyId'
  | 'volumeFileMode'
  | 'volumeRootPath'
  | 'preempt'
  | 'removePolicy'
  | 'mountTimeoutMs'
  | 'statusTimeoutMs'
  | 'listCacheMs'
  | 'releaseDelayMs'
  | 'releaseWaitMs'
>;

export interface ServiceDeps {
  cloud: Cloud;
  host: Host;
  config: ServiceConfig;
  logger: Logger;
  /** Told of cache hits (the metrics door); nobody by default. */
  telemetry?: Telemetry;
  /** The machine's boot id (read from /proc when absent). */
  bootId?: string;
}

/** The service's own state, shared with the code that gives volumes back. */
export interface ReleaseDeps extends ServiceDeps {
  refcounts: Refcounts;
  catalog: Catalog;
  pendingDetaches: PendingDetaches;
}
