/**
 * Work that must happen although EC2 refuses it now (a detach, deleting what a failed Create made): kept in a state
 * file, so a restart goes on with it, and tried again in the background (1 s, doubling to 60 s) under the volume's
 * lock, so that a retry never races a Docker call on the same volume.
 */
import { errorMessage } from '../common/errors';
import type { Logger } from '../log';

const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 60_000;

export interface RetryStore<Entry> {
  read(): Record<string, Entry>;
  write(entries: Record<string, Entry>): Promise<void>;
}

export interface RetryWork<Entry> {
  /** What the entries are, for the log: "detach", "delete". */
  what: string;
  /** The volume name whose lock an attempt runs under. */
  volumeOf(key: string, entry: Entry): string;
  /** One attempt; resolves when the work is done (or no longer needed), throws when it must be tried again. */
  attempt(key: string, entry: Entry): Promise<void>;
}

export class BackgroundRetries<Entry> {
  /** Changes whenever an entry is added or dropped. */
  version = 0;
  /** The round of retries under way, if any. */
  private underWay: Promise<void> = Promise.resolve();
  private readonly entries: Map<string, Entry>;
  private timer?: NodeJS.Timeout;
  private delayMs = FIRST_RETRY_MS;
  private stopped = false;

  constructor(
    private readonly store: RetryStore<Entry>,
    private readonly work: RetryWork<Entry>,
    private readonly logger: Logger,
    private readonly underLock: (name: string, work: () => Promise<void>) => Promise<void>,
  ) {
    this.entries = new Map(Object.entries(store.read()));
    if (this.entries.size > 0) this.schedule();
  }

  async add(key: string, entry: Entry): Promise<void> {
    this.entries.set(key, entry);
    this.version++;
    await this.persist();
    this.schedule();
  }

  /** Returns whether the key was there. */
  async drop(key: string): Promise<boolean> {
    if (!this.entries.delete(key)) return false;
    this.version++;
    await this.persist();
    return true;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** One attempt now; the caller holds the volume's lock. A failure leaves the entry for the background and is thrown. */
  async runNow(key: string, attempt: (entry: Entry) => Promise<void>): Promise<void> {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    await attempt(entry);
    await this.drop(key);
  }

  /** No retry starts any more; resolves once one under way has ended and recorded its outcome. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.underWay;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.underWay = this.retryAll().catch((err: unknown) => {
        this.logger.error(`background ${this.work.what}: could not record the outcome`, { error: errorMessage(err) });
      });
    }, this.delayMs).unref();
  }

  private async retryAll(): Promise<void> {
    this.timer = undefined;
    for (const [key, entry] of [...this.entries]) {
      if (this.stopped) break;
      const volume = this.work.volumeOf(key, entry);
      await this.underLock(volume, async () => {
        if (this.entries.get(key) !== entry) return;
        try {
          await this.work.attempt(key, entry);
          this.entries.delete(key);
          this.version++;
          this.logger.info(`background ${this.work.what} done`, { volume, key });
        } catch (err) {
          this.logger.warn(`background ${this.work.what} still failing`, { volume, key, error: errorMessage(err) });
        }
      });
    }
    await this.persist();
    this.delayMs = this.entries.size > 0 ? Math.min(this.delayMs * 2, LONGEST_RETRY_MS) : FIRST_RETRY_MS;
    if (this.entries.size > 0) this.schedule();
  }

  private persist(): Promise<void> {
    return this.store.write(Object.fromEntries(this.entries));
  }
}
