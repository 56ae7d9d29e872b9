/**
 * What berth knows about its volumes: the last word from EC2 per name, persisted in the state dir so Get can still
 * answer for a known volume while EC2 is unreachable, and a listing no older than the List cache's lifetime.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Cloud, CloudVolume } from '../cloud/types';
import type { Telemetry } from '../common/telemetry';
import type { Logger } from '../log';
import { StateFile } from './state-file';

type StoredVolume = Omit<CloudVolume, 'createTime'> & { createTime: string };
type Document = { version: 1; volumes: Record<string, StoredVolume> };

/** Volumes handled between two turns of the event loop when a listing is taken in or written out. */
const VOLUMES_PER_TURN = 500;
/**
 * Volumes per piece of volumes.json's text (about 100 KB): a larger piece is born in V8's large-object space, an old
 * generation, and 10 MB of those at each write set off major collections that held up the event loop.
 */
const VOLUMES_PER_PIECE = 100;
/** The event-loop monitor's sampling interval: a reported delay is at most this much above the true one. */
const LOOP_MONITOR_RESOLUTION_MS = 2;
/** A refresh that held up the event loop this long (Docker calls waited as long) is worth a warning. */
const SLOW_REFRESH_LOOP_DELAY_MS = 100;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Same plain data (objects, arrays, Dates, scalars): a listing that changed nothing is not written again. */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((key) => Object.prototype.hasOwnProperty.call(b, key) && sameData((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/** volumes.json's text for these entries, a piece per turn of the event loop. */
async function* documentText(entries: Array<[string, CloudVolume]>): AsyncGenerator<string> {
  yield '{"version":1,"volumes":{';
  for (let start = 0; start < entries.length; start += VOLUMES_PER_PIECE) {
    if (start > 0) await nextTurn();
    const slice = entries.slice(start, start + VOLUMES_PER_PIECE).map(([name, volume]) => {
      const stored: StoredVolume = { ...volume, createTime: volume.createTime.toISOString() };
      return `${JSON.stringify(name)}:${JSON.stringify(stored)}`;
    });
    yield `${start > 0 ? ',' : ''}${slice.join(',')}`;
  }
  yield '}}\n';
}

/** A cache: EC2 has the truth, so its file is not fsync'd (an older or unreadable copy only means asking EC2). */
function catalogFile(file: string, logger?: Logger): StateFile<Document> {
  return new StateFile<Document>(file, { version: 1, empty: () => ({ version: 1, volumes: {} }) }, { durable: false, logger });
}

/** The volumes last persisted, without asking EC2 (what berth can say while it is still starting). */
export function readCatalog(file: string, logger?: Logger): CloudVolume[] {
  let document: Document;
  try {
    document = catalogFile(file, logger).read();
  } catch {
    return [];
  }
  return Object.values(document.volumes ?? {}).map((stored) => ({ ...stored, createTime: new Date(stored.createTime) }));
}

export interface CatalogOptions {
  file: string;
  cloud: Cloud;
  logger: Logger;
  /** Longest age of a listing served without asking EC2. */
  ttlMs: number;
  /** How long after the last List the listing is kept warm in the background. */
  keepWarmMs?: number;
  now?: () => number;
  /** Told whether each look-up was answered from the cache. */
  telemetry?: Telemetry;
}

export class Catalog {
  /** Changes whenever an entry does (what List shows may then differ). */
  version = 0;
  private readonly file: StateFile<Document>;
  private readonly volumes = new Map<string, CloudVolume>();
  /** When EC2 last confirmed each entry (a listing, a look-up, or berth's own change). */
  private readonly confirmedAt = new Map<string, number>();
  private listedAt = -Infinity;
  private listing?: Promise<CloudVolume[]>;
  private lastListCall = -Infinity;
  private warmTimer?: NodeJS.Timeout;
  private readonly now: () => number;
  private writes: Promise<void> = Promise.resolve();
  private writeQueued = false;

  constructor(private readonly options: CatalogOptions) {
    this.now = options.now ?? Date.now;
    this.file = catalogFile(options.file, options.logger);
    for (const volume of readCatalog(options.file, options.logger)) this.volumes.set(volume.name, volume);
  }

  /** The cached entry, whatever its age. */
  known(name: string): CloudVolume | undefined {
    return this.volumes.get(name);
  }

  /** How many volumes the cache holds, whatever their age. */
  count(): number {
    return this.volumes.size;
  }


  /**
   * One volume: the cached entry while EC2 confirmed it within the cache lifetime, otherwise EC2 asked for that name
   * alone (one filtered DescribeVolumes, never a listing). A name missing from the cache is always asked for: another
   * host may have created it a moment ago. While EC2 is unreachable a known entry is served, marked `stale`.
   */
  async lookUp(name: string): Promise<{ volume: CloudVolume | undefined; stale: boolean }> {
    const known = this.volumes.get(name);
    const fresh = known && this.now() - (this.confirmedAt.get(name) ?? -Infinity) <= this.options.ttlMs;
    this.options.telemetry?.cacheLookup('volume', fresh ? 'hit' : 'miss');
    if (fresh) return { volume: known, stale: false };
    const started = this.now();
    let found: CloudVolume | undefined;
    try {
      found = await this.options.cloud.findByName(name);
    } catch (err) {
      if (!known) throw err;
      this.options.logger.warn('EC2 unreachable: answering from the last known state', { volume: name, error: (err as Error).message });
      return { volume: known, stale: true };
    }
    if (found) this.set(found, started);
    else await this.forget(name);
    return { volume: found, stale: false };
  }

  /** Every volume, from a listing at most ttl old; on EC2 failure the last listing, marked by `stale`. */
  async list(): Promise<{ volumes: CloudVolume[]; stale: boolean }> {
    this.lastListCall = this.now();
    this.keepWarm();
    const fresh = this.isFresh();
    this.options.telemetry?.cacheLookup('list', fresh ? 'hit' : 'miss');
    if (fresh) return { volumes: [...this.volumes.values()], stale: false };
    try {
      return { volumes: await this.refresh(), stale: false };
    } catch (err) {
      if (this.volumes.size === 0 && this.listedAt === -Infinity) throw err;
      this.options.logger.warn('listing volumes failed; serving the last known list', { error: (err as Error).message });
      return { volumes: [...this.volumes.values()], stale: true };
    }
  }

  /**
   * One listing at a time, shared by everyone who asks meanwhile. Taken in a slice at a time, and written to the
   * state file only when it changed something, so that keeping thousands of volumes listed never holds up the
   * event loop for long; how long it did (at most) is logged at debug, and warned about when Docker calls waited.
   */
  refresh(): Promise<CloudVolume[]> {
    if (!this.listing) {
      const started = this.now();
      const loop = monitorEventLoopDelay({ resolution: LOOP_MONITOR_RESOLUTION_MS });
      loop.enable();
      const listing = this.options.cloud
        .listVolumes(undefined, (listed) => this.knownCopy(listed))
        .then(async (volumes) => {
          const changed = await this.takeIn(volumes, started);
          this.listedAt = started;
          if (changed) this.persist();
          return { volumes, changed };
        })
        .finally(() => {
          this.listing = undefined;
        });
      this.listing = listing.then(({ volumes }) => volumes);
      listing
        .then(async ({ volumes, changed }) => {
          await this.writes;
          this.reportRefresh(loop, { volumes: volumes.length, changed, durationMs: this.now() - started });
        })
        .catch(() => undefined)
        .finally(() => loop.disable());
    }
    return this.listing;
  }

  /**
   * Replaces the entries with a listing; true when that changed any of them. An entry the listing shows unchanged
   * keeps its object (knownCopy, as each page arrives): the listing's copy then dies young, instead of turning 10,000
   * long-lived objects into garbage at every refresh (each such refresh ended in a major garbage collection that held
   * up the event loop).
   */
  private async takeIn(volumes: CloudVolume[], confirmedAt: number): Promise<boolean> {
    const listed = new Map<string, CloudVolume>();
    let changed = false;
    for (let start = 0; start < volumes.length; start += VOLUMES_PER_TURN) {
      if (start > 0) await nextTurn();
      for (const volume of volumes.slice(start, start + VOLUMES_PER_TURN)) {
        const known = this.volumes.get(volume.name);
        const same = known !== undefined && sameData(volume, known);
        listed.set(volume.name, same ? known : volume);
        changed ||= !same;
      }
    }
    changed ||= listed.size !== this.volumes.size;
    if (changed) this.version++;
    this.volumes.clear();
    this.confirmedAt.clear();
    for (const [name, volume] of listed) {
      this.volumes.set(name, volume);
      this.confirmedAt.set(name, confirmedAt);
    }
    return changed;
  }

  /** The cached entry when the listing shows it unchanged, so that the listing's copy dies young. */
  private knownCopy(listed: CloudVolume): CloudVolume {
    const known = this.volumes.get(listed.name);
    return known !== undefined && sameData(listed, known) ? known : listed;
  }

  private reportRefresh(loop: ReturnType<typeof monitorEventLoopDelay>, figures: { volumes: number; changed: boolean; durationMs: number }): void {
    const eventLoopMaxDelayMs = Math.round((loop.max / 1e6) * 10) / 10;
    const fields = { ...figures, eventLoopMaxDelayMs };
    if (eventLoopMaxDelayMs >= SLOW_REFRESH_LOOP_DELAY_MS) {
      this.options.logger.warn('the event loop was held up while the volume listing was refreshed: Docker calls waited meanwhile', fields);
    } else this.options.logger.debug('volume listing refreshed', fields);
  }

  async remember(volume: CloudVolume): Promise<void> {
    this.set(volume, this.now());
  }

  async forget(name: string): Promise<void> {
    this.confirmedAt.delete(name);
    if (!this.volumes.delete(name)) return;
    this.version++;
    this.persist();
  }

  private set(volume: CloudVolume, confirmedAt: number): void {
    this.version++;
    this.volumes.set(volume.name, volume);
    this.confirmedAt.set(volume.name, confirmedAt);
    this.persist();
  }

  /** True while the last full listing is within the cache lifetime. */
  private isFresh(): boolean {
    return this.now() - this.listedAt <= this.options.ttlMs;
  }

  /** Stops the background listing and waits for the last write. */
  async close(): Promise<void> {
    clearTimeout(this.warmTimer);
    await this.writes;
  }

  /** While `docker volume ls` keeps being used, refresh just before the listing expires so it stays free. */
  private keepWarm(): void {
    if (this.warmTimer) return;
    const keepWarmMs = this.options.keepWarmMs ?? 60_000;
    const tick = () => {
      this.warmTimer = undefined;
      if (this.now() - this.lastListCall > keepWarmMs) return;
      this.refresh()
        .catch((err) => this.options.logger.debug('background listing failed', { error: (err as Error).message }))
        .finally(() => {
          if (!this.warmTimer) this.warmTimer = setTimeout(tick, this.refreshDelay()).unref();
        });
    };
    this.warmTimer = setTimeout(tick, this.refreshDelay()).unref();
  }

  private refreshDelay(): number {
    const age = Math.max(0, this.now() - this.listedAt);
    return Math.max(50, Math.min(this.options.ttlMs, this.options.ttlMs * 0.8 - age));
  }

  /**
   * In the background, one write at a time, each of the state at its start: changes meanwhile coalesce. The file's
   * JSON text is made and written a slice of volumes at a time: made in one go, 10,000 volumes' text held up the
   * event loop for about 85 ms, and held 10 MB at once.
   */
  private persist(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.writes = this.writes.then(async () => {
      this.writeQueued = false;
      const entries = [...this.volumes];
      try {
        await this.file.writeText(documentText(entries));
      } catch (err) {
        this.options.logger.warn('cannot save the volume cache', { file: this.options.file, error: (err as Error).message });
      }
    });
  }
}
