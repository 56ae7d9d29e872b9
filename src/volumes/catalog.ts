/**
 * What berth knows about its volumes: the last word from EC2 per name, persisted in the state dir so Get can still
 * answer for a known volume while EC2 is unreachable, and a listing no older than the List cache's lifetime.
 */
import type { Cloud, CloudVolume } from '../cloud/types';
import type { Logger } from '../log';
import { StateFile } from './state-file';

type StoredVolume = Omit<CloudVolume, 'createTime'> & { createTime: string };
type Document = { version: 1; volumes: Record<string, StoredVolume> };

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
}

export class Catalog {
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


  /**
   * One volume: the cached entry while EC2 confirmed it within the cache lifetime, otherwise EC2 asked for that name
   * alone (one filtered DescribeVolumes, never a listing). A name missing from the cache is always asked for: another
   * host may have created it a moment ago. While EC2 is unreachable a known entry is served, marked `stale`.
   */
  async lookUp(name: string): Promise<{ volume: CloudVolume | undefined; stale: boolean }> {
    const known = this.volumes.get(name);
    if (known && this.now() - (this.confirmedAt.get(name) ?? -Infinity) <= this.options.ttlMs) return { volume: known, stale: false };
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
    if (this.isFresh()) return { volumes: [...this.volumes.values()], stale: false };
    try {
      return { volumes: await this.refresh(), stale: false };
    } catch (err) {
      if (this.volumes.size === 0 && this.listedAt === -Infinity) throw err;
      this.options.logger.warn('listing volumes failed; serving the last known list', { error: (err as Error).message });
      return { volumes: [...this.volumes.values()], stale: true };
    }
  }

  /** One listing at a time, shared by everyone who asks meanwhile. */
  refresh(): Promise<CloudVolume[]> {
    if (!this.listing) {
      const started = this.now();
      this.listing = this.options.cloud
        .listVolumes()
        .then(async (volumes) => {
          this.volumes.clear();
          this.confirmedAt.clear();
          for (const volume of volumes) {
            this.volumes.set(volume.name, volume);
            this.confirmedAt.set(volume.name, started);
          }
          this.listedAt = started;
          this.persist();
          return volumes;
        })
        .finally(() => {
          this.listing = undefined;
        });
    }
    return this.listing;
  }

  async remember(volume: CloudVolume): Promise<void> {
    this.set(volume, this.now());
  }

  async forget(name: string): Promise<void> {
    this.confirmedAt.delete(name);
    if (this.volumes.delete(name)) this.persist();
  }

  private set(volume: CloudVolume, confirmedAt: number): void {
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

  /** In the background, one write at a time, each of the state at its start: changes meanwhile coalesce. */
  private persist(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.writes = this.writes.then(async () => {
      this.writeQueued = false;
      const volumes: Record<string, StoredVolume> = {};
      for (const [name, volume] of this.volumes) volumes[name] = { ...volume, createTime: volume.createTime.toISOString() };
      try {
        await this.file.write({ version: 1, volumes });
      } catch (err) {
        this.options.logger.warn('cannot save the volume cache', { file: this.options.file, error: (err as Error).message });
      }
    });
  }
}
