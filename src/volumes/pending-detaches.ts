/**
 * Volumes unmounted here whose DetachVolume failed (EC2 unreachable, throttled for too long). Left attached, they
 * would block every other host, so they are retried in the background, persisted across restarts, until EC2
 * confirms the detach or the volume is mounted here again.
 */
import type { Cloud } from '../cloud/types';
import { errorMessage } from '../common/errors';
import type { Logger } from '../log';
import { BackgroundRetries } from './background-retries';
import { StateFile } from './state-file';

type Document = { version: 1; volumes: Record<string, string> };

/** One background try; a Remove waiting for it is bounded by its own deadline instead. */
const DETACH_BOUND_MS = 120_000;

export class PendingDetaches {
  /** volumeId -> volume name */
  private readonly retries: BackgroundRetries<string>;

  constructor(
    file: string,
    private readonly cloud: Cloud,
    private readonly logger: Logger,
    /** Runs work under the volume's lock, so a retry never races a Mount of the same volume. */
    underLock: (name: string, work: () => Promise<void>) => Promise<void>,
  ) {
    const state = new StateFile<Document>(file, { version: 1, empty: () => ({ version: 1, volumes: {} }) }, { logger });
    this.retries = new BackgroundRetries<string>(
      { read: () => state.read().volumes, write: (volumes) => state.write({ version: 1, volumes }) },
      {
        what: 'detach',
        volumeOf: (_volumeId, name) => name,
        attempt: (volumeId) => cloud.detach(volumeId, {}, AbortSignal.timeout(DETACH_BOUND_MS)),
      },
      logger,
      underLock,
    );
  }

  /** Detaches the volume in the background, retrying until EC2 confirms it. */
  async add(volumeId: string, name: string, reason: unknown): Promise<void> {
    this.logger.warn('detaching in the background', { volume: name, volumeId, reason: errorMessage(reason) });
    await this.retries.add(volumeId, name);
  }

  /** The volume is being mounted here again: its attachment is wanted after all. Returns whether it was pending. */
  cancel(volumeId: string): Promise<boolean> {
    return this.retries.drop(volumeId);
  }

  has(volumeId: string): boolean {
    return this.retries.has(volumeId);
  }

  /** Detaches a pending volume now; the caller holds its lock. A failure leaves it pending and is thrown. */
  detachNow(volumeId: string, signal: AbortSignal): Promise<void> {
    return this.retries.runNow(volumeId, () => this.cloud.detach(volumeId, {}, signal));
  }

  stop(): Promise<void> {
    return this.retries.stop();
  }
}
