/**
 * Creates that answered Err while the volume they may have made could not be deleted either (EC2 failing for longer
 * than the Create's own clean-up). Deleting it is finished in the background once EC2 answers again, persisted
 * across restarts. Until then the name is hidden from List and Get (Docker was told the Create failed), and a
 * Create or Remove of the name first finishes the delete, so that no later call adopts what the failed one made.
 */
import { liveAttachments } from '../cloud/attachments';
import type { Cloud, CloudVolume } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import type { Logger } from '../log';
import { BackgroundRetries } from './background-retries';
import { StateFile } from './state-file';

interface AbandonedCreate {
  /** When the failed Create began (ms since the epoch): only a volume made since then is its own. */
  startedAt: number;
}

type Document = { version: 1; creates: Record<string, AbandonedCreate> };

/** EC2's clock against this machine's (Amazon Time Sync keeps instances within milliseconds). */
const CLOCK_SKEW_MS = 2_000;
const ATTEMPT_BOUND_MS = 30_000;

/**
 * A berth volume of this name created since the call began, still unformatted and never attached, or nothing. A
 * volume that was there before is never the failed call's. (Two hosts creating one name at the same moment share
 * one volume by design; should one of them fail, the volume it deletes was never used.)
 */
function madeSince(volume: CloudVolume, startedAt: number): boolean {
  return (
    volume.owner === 'berth' &&
    volume.unformatted &&
    liveAttachments(volume).length === 0 &&
    (volume.state === 'available' || volume.state === 'creating') &&
    volume.createTime.getTime() >= startedAt - CLOCK_SKEW_MS
  );
}

/** Deletes the volume a Create of `name` begun at `startedAt` made, if there is one; returns it. */
export async function deleteMadeSince(cloud: Cloud, name: string, startedAt: number, signal?: AbortSignal): Promise<CloudVolume | undefined> {
  const made = await cloud.findByName(name, signal);
  if (!made || !madeSince(made, startedAt)) return undefined;
  await cloud.delete(made.volumeId, signal);
  return made;
}

export class AbandonedCreates {
  private readonly retries: BackgroundRetries<AbandonedCreate>;

  constructor(
    file: string,
    private readonly cloud: Cloud,
    private readonly logger: Logger,
    underLock: (name: string, work: () => Promise<void>) => Promise<void>,
  ) {
    const state = new StateFile<Document>(file, { version: 1, empty: () => ({ version: 1, creates: {} }) }, { logger });
    this.retries = new BackgroundRetries<AbandonedCreate>(
      { read: () => state.read().creates, write: (creates) => state.write({ version: 1, creates }) },
      { what: 'delete of a failed Create\'s volume', volumeOf: (name) => name, attempt: (name, entry) => this.deleteFor(name, entry, AbortSignal.timeout(ATTEMPT_BOUND_MS)) },
      logger,
      underLock,
    );
  }

  async add(name: string, startedAt: number, failure: unknown): Promise<void> {
    this.logger.warn('a failed Create may have left a volume; deleting it in the background once EC2 answers', { volume: name, error: errorMessage(failure) });
    await this.retries.add(name, { startedAt });
  }

  has(name: string): boolean {
    return this.retries.has(name);
  }

  /** Changes whenever a name is added or settled. */
  get version(): number {
    return this.retries.version;
  }

  /** Finishes the delete now; the caller holds the name's lock. Throws, naming the volume, while EC2 still fails. */
  async settleNow(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.retries.runNow(name, (entry) => this.deleteFor(name, entry, signal));
    } catch (err) {
      throw new BerthError('cloud', `an earlier Create of ${name} failed and the volume it may have made is not deleted yet (${errorMessage(err)}); try again shortly`);
    }
  }

  stop(): Promise<void> {
    return this.retries.stop();
  }

  private async deleteFor(name: string, { startedAt }: AbandonedCreate, signal?: AbortSignal): Promise<void> {
    const deleted = await deleteMadeSince(this.cloud, name, startedAt, signal);
    if (deleted) this.logger.warn('deleted the volume a failed Create made', { volume: name, volumeId: deleted.volumeId });
  }
}
