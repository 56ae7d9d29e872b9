/** What the day-two operations (modify, release, snapshots) are given: the service's state and its lock. */
import type { CloudVolume } from '../cloud/types';
import type { ReleaseDeps } from './deps';

export interface AdministrationDeps extends ReleaseDeps {
  /** Runs work under the volume's lock, as Docker's calls for that name run. */
  underLock<T>(name: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** The volume as EC2 has it now (never the cache); 'not-found' when there is none. */
  lookUp(name: string, signal?: AbortSignal): Promise<CloudVolume>;
}
