/**
 * Volumes unmounted here whose DetachVolume failed (EC2 unreachable, throttled for too long). Left attached, they
 * would block every other host, so they are retried in the background, persisted across restarts, until EC2
 * confirms the detach or the volume is mounted here again.
 */
import type { Cloud } from '../cloud/types';
import { errorMessage } from '../common/errors';
import type { Logger } from '../log';
import { StateFile } from './state-file';

type Document = { version: 1; volumes: Record<string, string> };

const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 60_000;
const DETACH_BOUND_MS = 120_000;

export class PendingDetaches {
  private readonly file: StateFile<Document>;
  /** volumeId -> volume name */
  private readonly pending: Map<string, string>;
  private timer?: NodeJS.Timeout;
  private delayMs = FIRST_RETRY_MS;
  private stopped = false;

  constructor(
    file: string,
    private readonly cloud: Cloud,
    private readonly logger: Logger,
    /** Runs work under the volume's lock, so a retry never races a Mount of the same volume. */
    private readonly underLock: (name: string, work: () => Promise<void>) => Promise<void>,
  ) {
    this.file = new StateFile<Document>(file, { version: 1, empty: () => ({ version: 1, volumes: {} }) }, { logger });
    this.pending = new Map(Object.entries(this.file.read().volumes));
    if (this.pending.size > 0) this.schedule();
  }

  /** Detaches the volume in the background, retrying until EC2 confirms it. */
  async add(volumeId: string, name: string, reason: unknown): Promise<void> {
    this.logger.warn('detaching in the background', { volume: name, volumeId, reason: errorMessage(reason) });
    this.pending.set(volumeId, name);
    await this.persist();
    this.schedule();
  }

  /** The volume is being mounted here again: its attachment is wanted after all. Returns whether it was pending. */
  async cancel(volumeId: string): Promise<boolean> {
    if (!this.pending.delete(volumeId)) return false;
    await this.persist();
    return true;
  }

  has(volumeId: string): boolean {
    return this.pending.has(volumeId);
  }

  /** Detaches a pending volume now; the caller holds its lock. A failure leaves it pending and is thrown. */
  async detachNow(volumeId: string, signal: AbortSignal): Promise<void> {
    if (!this.pending.has(volumeId)) return;
    await this.cloud.detach(volumeId, {}, signal);
    this.pending.delete(volumeId);
    await this.persist();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => void this.retry(), this.delayMs).unref();
  }

  private async retry(): Promise<void> {
    this.timer = undefined;
    for (const [volumeId, name] of [...this.pending]) {
      await this.underLock(name, async () => {
        if (!this.pending.has(volumeId)) return;
        try {
          await this.cloud.detach(volumeId, {}, AbortSignal.timeout(DETACH_BOUND_MS));
          this.pending.delete(volumeId);
          this.logger.info('detached after retrying', { volume: name, volumeId });
        } catch (err) {
          this.logger.warn('detach still failing', { volume: name, volumeId, error: errorMessage(err) });
        }
      });
    }
    await this.persist();
    this.delayMs = this.pending.size > 0 ? Math.min(this.delayMs * 2, LONGEST_RETRY_MS) : FIRST_RETRY_MS;
    if (this.pending.size > 0) this.schedule();
  }

  private persist(): Promise<void> {
    return this.file.write({ version: 1, volumes: Object.fromEntries(this.pending) });
  }
}
