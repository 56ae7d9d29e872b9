/**
 * Serves concurrent look-ups of single keys with one bulk call. When no bulk call is under way and look-ups are
 * rare, the keys asked for in the current turn of the event loop go out at once (a lone look-up waits for
 * nothing); while one is under way, keys requested within `windowMs` of the first (or until `maxBatch` keys are
 * waiting) go out together. Under a burst (look-ups of `busyAfter` different keys within a second: many volumes
 * being mounted at once, not one volume being polled) keys wait up to `busyWindowMs` for company, even when no call
 * is under way.
 * If the bulk call fails in a way that one bad key can cause (e.g. InvalidVolume.NotFound names only the first
 * missing id), each key is fetched alone, so one bad key cannot fail the others.
 */
export interface BatcherOptions<K, V> {
  /** One call for many keys; keys missing from the result are "not found". */
  fetchMany(keys: K[]): Promise<Map<K, V>>;
  /** One call for one key; undefined when not found. Also used for a batch of one. */
  fetchOne(key: K): Promise<V | undefined>;
  /** Whether a failed bulk call should be retried key by key. */
  splitOn(err: unknown): boolean;
  windowMs?: number;
  maxBatch?: number;
  busyWindowMs?: number;
  busyAfter?: number;
}

interface Waiter<V> {
  resolve(value: V | undefined): void;
  reject(err: unknown): void;
}

/**
 * Applies only while a bulk call is under way (a lone look-up goes out at once). 25 containers started together
 * (two Mounts and an Unmount each) made 82-86 DescribeVolumes calls with 20 ms, 46-51 with 50 ms, 36-37 with 100 ms,
 * in the same wall time.
 */
export const DEFAULT_WINDOW_MS = 100;
export const DEFAULT_MAX_BATCH = 500;
/**
 * 25 containers started together spread their look-ups over seconds (each behind its own image and mkfs work):
 * with only the in-flight window they took 4 to 11 DescribeVolumes calls from run to run.
 */
export const DEFAULT_BUSY_WINDOW_MS = 250;
export const DEFAULT_BUSY_AFTER = 4;
const BUSY_PERIOD_MS = 1_000;

export class Batcher<K, V> {
  private pending = new Map<K, Waiter<V>[]>();
  private timer: { cancel(): void } | undefined;
  /** Bulk calls under way. */
  private inFlight = 0;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private readonly busyWindowMs: number;
  private readonly busyAfter: number;
  /** Keys looked up in the last second, with when. */
  private readonly recentLoads = new Map<K, number>();
  /** Bulk calls made so far (for tests and logs). */
  batches = 0;

  constructor(private readonly options: BatcherOptions<K, V>) {
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.busyWindowMs = options.busyWindowMs ?? DEFAULT_BUSY_WINDOW_MS;
    this.busyAfter = options.busyAfter ?? DEFAULT_BUSY_AFTER;
  }

  load(key: K, signal?: AbortSignal): Promise<V | undefined> {
    return new Promise<V | undefined>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter: Waiter<V> = {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.noteLoad(key);
      const waiters = this.pending.get(key);
      if (waiters) waiters.push(waiter);
      else this.pending.set(key, [waiter]);
      if (this.pending.size >= this.maxBatch) this.flush();
      else this.timer ??= this.schedule();
    });
  }

  /** At the end of this turn when idle; after the window while a bulk call is under way or look-ups come thick. */
  private schedule(): { cancel(): void } {
    const busy = this.busy();
    if (this.inFlight === 0 && !busy) {
      const immediate = setImmediate(() => this.flush());
      return { cancel: () => clearImmediate(immediate) };
    }
    const timeout = setTimeout(() => this.flush(), busy ? Math.max(this.windowMs, this.busyWindowMs) : this.windowMs);
    return { cancel: () => clearTimeout(timeout) };
  }

  private noteLoad(key: K): void {
    const now = Date.now();
    this.recentLoads.delete(key);
    this.recentLoads.set(key, now);
    for (const [old, at] of this.recentLoads) {
      if (now - at < BUSY_PERIOD_MS) break;
      this.recentLoads.delete(old);
    }
  }

  private busy(): boolean {
    return this.recentLoads.size >= this.busyAfter;
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size > 0) void this.run(batch);
  }

  private async run(batch: Map<K, Waiter<V>[]>): Promise<void> {
    this.batches++;
    this.inFlight++;
    try {
      await this.fetch(batch);
    } finally {
      this.inFlight--;
    }
  }

  private async fetch(batch: Map<K, Waiter<V>[]>): Promise<void> {
    const keys = [...batch.keys()];
    if (keys.length === 1) return this.runAlone(keys[0], batch.get(keys[0]) ?? []);
    let results: Map<K, V>;
    try {
      results = await this.options.fetchMany(keys);
    } catch (err) {
      if (!this.options.splitOn(err)) {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(err);
        return;
      }
      await Promise.all(keys.map((key) => this.runAlone(key, batch.get(key) ?? [])));
      return;
    }
    for (const [key, waiters] of batch) for (const waiter of waiters) waiter.resolve(results.get(key));
  }

  private async runAlone(key: K, waiters: Waiter<V>[]): Promise<void> {
    try {
      const value = await this.options.fetchOne(key);
      for (const waiter of waiters) waiter.resolve(value);
    } catch (err) {
      for (const waiter of waiters) waiter.reject(err);
    }
  }
}
