/**
 * Finding volumes: one by id (concurrent look-ups batched into one DescribeVolumes), by name, or the whole
 * namespace (paginated); and what such answers may stand in for a moment later (the recent describe, the listing).
 */
import { DescribeVolumesCommand, type EC2Client, type Filter, type Volume } from '@aws-sdk/client-ec2';
import { BerthError } from '../common/errors';
import type { Logger } from '../log';
import { liveAttachments } from './attachments';
import { Batcher } from './batcher';
import { ListingThreadUnavailable } from './listing-thread';
import type { CloudConfig } from './context';
import { ec2Call } from './errors';
import {
  belongsTo,
  describeFilters,
  isGone,
  nameFilters,
  namespaceFilters,
  namespaceOf,
  oldestFirst,
  rexrayNameFilters,
  rexrayNamespaceFilters,
  toCloudVolume,
} from './tags';
import type { CloudVolume, KeepVolume, LookupOptions } from './types';

/**
 * How long an answer about a volume may stand in for a look-up asked with `acceptRecent`, or as attach's first look
 * when it showed the volume unattached (the volume service looks a volume up just before attaching it). A stale
 * answer is safe there: EC2 refuses the AttachVolume or DeleteVolume of a volume that changed meanwhile.
 */
export const RECENT_DESCRIBE_MS = 1_000;
/**
 * How long a namespace listing that lacks a name may stand in for create's own lookup of that name: Docker asks
 * Get (a listing when berth's cache is stale) just before Create. A name created elsewhere meanwhile is still
 * caught: its ClientToken returns the same volume or a mismatch, and a duplicate is settled as in any race.
 */
export const LISTING_REUSE_MS = 2_000;
const MAX_PAGES = 1_000;
/** EC2 refuses a call whose filters carry more values than this (FilterLimitExceeded). */
const MAX_FILTER_VALUES = 200;
/** Volumes of a page turned into berth's view between two turns of the event loop. */
const PARSED_PER_TURN = 100;
/** DescribeVolumes' largest page. */
const PAGE_SIZE = 500;
/** Past this many remembered answers, those older than RECENT_DESCRIBE_MS are dropped. */
const RECENT_PRUNE_SIZE = 256;

export interface VolumeLookupsOptions {
  ec2: EC2Client;
  config: Pick<CloudConfig, 'tag' | 'adoptRexray' | 'fsType'>;
  logger: Logger;
  /** How long describe() collects ids before one DescribeVolumes call. */
  batchWindowMs?: number;
  /** Where the listings of a large namespace are made (listing-thread.ts); without it, on this thread. */
  listingThread?: PagedQuery;
}

export interface PagedQuery {
  query(filters: Filter[], signal?: AbortSignal, keep?: KeepVolume, startToken?: string): Promise<CloudVolume[]>;
}

export class VolumeLookups {
  private readonly ec2: EC2Client;
  private readonly config: VolumeLookupsOptions['config'];
  private readonly logger: Logger;
  private readonly batcher: Batcher<string, Volume>;
  private readonly recent = new Map<string, { volume: CloudVolume; at: number }>();
  /** When a change was last asked for, per volume. */
  private readonly changed = new Map<string, number>();
  private lastListing: { names: Set<string>; at: number } | undefined;
  private readonly listingThread: PagedQuery | undefined;
  /** Volumes the last namespace listing found (before one per name was kept). */
  private lastListingSize = 0;
  /** Names a look-up by name found no volume of, with when. */
  private readonly recentAbsences = new Map<string, number>();

  constructor(options: VolumeLookupsOptions) {
    this.ec2 = options.ec2;
    this.config = options.config;
    this.logger = options.logger;
    this.listingThread = options.listingThread;
    this.batcher = new Batcher<string, Volume>({
      windowMs: options.batchWindowMs,
      maxBatch: MAX_FILTER_VALUES,
      fetchMany: (volumeIds) => this.describeByIdFilter(volumeIds),
      fetchOne: async (volumeId) => (await this.describeByIdFilter([volumeId])).get(volumeId),
      // A filter matches what exists: an id that does not is simply absent, and cannot fail the others.
      splitOn: () => false,
    });
  }

  /**
   * Ids go in a volume-id filter rather than VolumeIds: EC2 draws an unfiltered DescribeVolumes from a bucket half
   * the size of a filtered one's (50 tokens refilled 10 a second against 100 and 20, "Request throttling for the
   * Amazon EC2 API"), and a filter answers without the volumes that are gone instead of failing the call.
   */
  private async describeByIdFilter(volumeIds: string[]): Promise<Map<string, Volume>> {
    const out = await this.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: volumeIds }] }));
    return new Map((out.Volumes ?? []).map((volume) => [volume.VolumeId ?? '', volume]));
  }

  async findByName(name: string, signal?: AbortSignal, options: LookupOptions = {}): Promise<CloudVolume | undefined> {
    const recent = options.acceptRecent ? this.recentNamed(name) : undefined;
    if (recent) return recent;
    const started = Date.now();
    const found = await this.lookUpName(name, signal);
    this.noteAbsence(name, found ? undefined : started);
    if (found) this.noteSeen(found, started);
    return found;
  }

  private async lookUpName(name: string, signal?: AbortSignal): Promise<CloudVolume | undefined> {
    const { tag, adoptRexray } = this.config;
    const own = this.ownNamed(await this.query(nameFilters(tag, name), signal), name);
    if (own.length > 0) return this.pickOne(own, name);
    if (!adoptRexray) return undefined;
    const rexray = (await this.query(rexrayNameFilters(tag, name), signal)).filter(
      (volume) => volume.owner === 'rexray' && belongsTo(volume, tag, true) && volume.name === name,
    );
    return rexray.length > 0 ? this.pickOne(rexray, name) : undefined;
  }

  async listVolumes(signal?: AbortSignal, keep: KeepVolume = (volume) => volume): Promise<CloudVolume[]> {
    const { tag, adoptRexray } = this.config;
    const started = Date.now();
    const found = (await this.queryNamespace(namespaceFilters(tag), signal, keep)).filter((volume) => volume.owner === 'berth' && belongsTo(volume, tag, false));
    if (adoptRexray) {
      const rexray = await this.queryNamespace(rexrayNamespaceFilters(tag), signal, keep);
      found.push(...rexray.filter((volume) => volume.owner === 'rexray' && belongsTo(volume, tag, true)));
    }
    // One volume per name, the same one findByName picks: berth's before REX-Ray's, then the oldest.
    const byName = new Map<string, CloudVolume>();
    for (const volume of found) {
      const kept = byName.get(volume.name);
      if (!kept || preferredOf(volume, kept) === volume) byName.set(volume.name, volume);
    }
    this.lastListing = { names: new Set(byName.keys()), at: started };
    this.lastListingSize = found.length;
    return [...byName.values()];
  }

  async describe(volumeId: string, signal?: AbortSignal, options: LookupOptions = {}): Promise<CloudVolume | undefined> {
    const recent = options.acceptRecent ? this.recentAnswer(volumeId) : undefined;
    if (recent) return recent;
    const askedAt = Date.now();
    const volume = await ec2Call(`DescribeVolumes ${volumeId}`, () => this.batcher.load(volumeId, signal));
    const parsed = volume && this.parse(volume);
    this.noteRecent(volumeId, parsed, askedAt);
    return parsed;
  }

  /** describe(), failing with `not-found` ("cannot <action> <id>: no such volume") when it is missing or gone. */
  async requireVolume(volumeId: string, action: string, signal?: AbortSignal): Promise<CloudVolume> {
    const volume = await this.describe(volumeId, signal);
    if (!volume || isGone(volume)) throw new BerthError('not-found', `cannot ${action} ${volumeId}: no such volume`);
    return volume;
  }

  /**
   * Every volume matching the filters, page by page (DescribeVolumes, MaxResults 500), in no particular namespace;
   * each page turned into berth's view in slices (the SDK itself reads a page's XML in one go).
   */
  async query(filters: Filter[], signal?: AbortSignal, keep: KeepVolume = (volume) => volume, startToken?: string): Promise<CloudVolume[]> {
    const volumes: CloudVolume[] = [];
    for await (const page of this.pages(filters, signal, startToken)) for (const volume of page.volumes) volumes.push(keep(volume));
    return volumes;
  }

  /** query()'s pages, each as soon as EC2 answered it, from `startToken` (a NextToken EC2 gave) or the first. */
  async *pages(filters: Filter[], signal?: AbortSignal, startToken?: string): AsyncGenerator<{ volumes: CloudVolume[]; nextToken?: string }> {
    let nextToken = startToken;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await ec2Call(`DescribeVolumes ${describeFilters(filters)}`, () =>
        this.ec2.send(new DescribeVolumesCommand({ Filters: filters, MaxResults: PAGE_SIZE, NextToken: nextToken }), { abortSignal: signal }),
      );
      const found = out.Volumes ?? [];
      const volumes: CloudVolume[] = [];
      for (let start = 0; start < found.length; start += PARSED_PER_TURN) {
        if (start > 0) await new Promise((resolve) => setImmediate(resolve));
        for (const volume of found.slice(start, start + PARSED_PER_TURN)) volumes.push(this.parse(volume));
      }
      nextToken = out.NextToken;
      yield { volumes, nextToken };
      if (!nextToken) break;
    }
  }

  /**
   * A namespace listing. The SDK reads each page's XML in one synchronous parse; with thousands of volumes cached,
   * those parses and the garbage collections they set off held up the event loop (and Docker's calls) for 50-100 ms
   * at every refresh. So a namespace of more than one page is paged through by the listing thread: all of it once
   * a listing has shown it that large, else from its second page on. A thread that cannot run (or died) leaves the
   * listing to this thread, with a warning.
   */
  private async queryNamespace(filters: Filter[], signal: AbortSignal | undefined, keep: KeepVolume): Promise<CloudVolume[]> {
    const thread = this.listingThread;
    if (!thread) return this.query(filters, signal, keep);
    if (this.lastListingSize > PAGE_SIZE) return this.queryInThread(thread, filters, signal, keep);
    const first = await this.pages(filters, signal).next();
    const page = first.done ? { volumes: [] } : first.value;
    const kept = page.volumes.map(keep);
    if (!page.nextToken) return kept;
    return kept.concat(await this.queryInThread(thread, filters, signal, keep, page.nextToken));
  }

  private async queryInThread(thread: PagedQuery, filters: Filter[], signal: AbortSignal | undefined, keep: KeepVolume, startToken?: string): Promise<CloudVolume[]> {
    try {
      return await thread.query(filters, signal, keep, startToken);
    } catch (err) {
      if (!(err instanceof ListingThreadUnavailable)) throw err;
      this.logger.warn('the listing thread is unavailable; listing volumes on the main thread', { error: err.message });
      return this.query(filters, signal, keep, startToken);
    }
  }

  /** berth's own live volumes of this namespace carrying this name. */
  ownNamed(volumes: CloudVolume[], name: string): CloudVolume[] {
    return volumes.filter((volume) => volume.owner === 'berth' && belongsTo(volume, this.config.tag, false) && volume.name === name);
  }

  /** The oldest of volumes sharing one name (what every host picks), with a warning when there are several. */
  pickOne(volumes: CloudVolume[], name: string): CloudVolume {
    const sorted = [...volumes].sort(oldestFirst);
    if (sorted.length > 1) {
      this.logger.warn('several EBS volumes carry one volume name; using the oldest', {
        name,
        namespace: namespaceOf(this.config.tag),
        using: sorted[0].volumeId,
        others: sorted.slice(1).map((volume) => volume.volumeId),
      });
    }
    return sorted[0];
  }

  /** True when a namespace listing or a look-up by name, under LISTING_REUSE_MS old, found no volume of this name. */
  listedRecentlyWithout(name: string): boolean {
    const now = Date.now();
    const absentSince = this.recentAbsences.get(name);
    if (absentSince !== undefined && now - absentSince <= LISTING_REUSE_MS) return true;
    const listing = this.lastListing;
    return listing !== undefined && now - listing.at <= LISTING_REUSE_MS && !listing.names.has(name);
  }

  /** What a look-up heard within RECENT_DESCRIBE_MS, if it showed the volume available and attached nowhere. */
  recentlyUnattached(volumeId: string): CloudVolume | undefined {
    const volume = this.recentAnswer(volumeId);
    return volume && volume.state === 'available' && liveAttachments(volume).length === 0 ? volume : undefined;
  }

  /** An answer about the volume heard otherwise (a wait's poll by name), asked for at `askedAt`, counts as recent too. */
  noteSeen(volume: CloudVolume, askedAt: number): void {
    this.noteRecent(volume.volumeId, volume, askedAt);
  }

  private recentAnswer(volumeId: string): CloudVolume | undefined {
    const entry = this.recent.get(volumeId);
    return entry && Date.now() - entry.at <= RECENT_DESCRIBE_MS ? entry.volume : undefined;
  }

  /** A recent answer about a live berth volume of this name, as findByName would pick it. */
  private recentNamed(name: string): CloudVolume | undefined {
    const now = Date.now();
    for (const { volume, at } of this.recent.values()) {
      if (now - at <= RECENT_DESCRIBE_MS && volume.name === name && !isGone(volume) && this.ownNamed([volume], name).length === 1) return volume;
    }
    return undefined;
  }

  /**
   * Called before any call that changes the volume: what was heard of it no longer stands, nor does an answer to
   * a look-up asked for before now that arrives later.
   */
  forgetRecent(volumeId: string): void {
    this.recent.delete(volumeId);
    this.changed.set(volumeId, Date.now());
  }

  private parse(volume: Volume): CloudVolume {
    return toCloudVolume(volume, { ebsTag: this.config.tag, defaultFsType: this.config.fsType });
  }

  private noteAbsence(name: string, since: number | undefined): void {
    if (since === undefined) {
      this.recentAbsences.delete(name);
      return;
    }
    this.recentAbsences.set(name, since);
    if (this.recentAbsences.size > RECENT_PRUNE_SIZE) {
      for (const [old, at] of this.recentAbsences) if (since - at > LISTING_REUSE_MS) this.recentAbsences.delete(old);
    }
  }

  /** `at`: when the look-up was asked for (an answer is as old as its question). */
  private noteRecent(volumeId: string, volume: CloudVolume | undefined, at: number): void {
    if (!volume) {
      this.recent.delete(volumeId);
      return;
    }
    if ((this.changed.get(volumeId) ?? -Infinity) >= at) return;
    this.recent.set(volumeId, { volume, at });
    this.prune(Date.now());
  }

  private prune(now: number): void {
    if (this.recent.size > RECENT_PRUNE_SIZE) for (const [id, entry] of this.recent) if (now - entry.at > RECENT_DESCRIBE_MS) this.recent.delete(id);
    if (this.changed.size > RECENT_PRUNE_SIZE) for (const [id, at] of this.changed) if (now - at > RECENT_DESCRIBE_MS) this.changed.delete(id);
  }
}

/** Of two volumes of one name, the one every host uses: berth's before REX-Ray's, then the oldest. */
function preferredOf(a: CloudVolume, b: CloudVolume): CloudVolume {
  if (a.owner !== b.owner) return a.owner === 'berth' ? a : b;
  return oldestFirst(a, b) <= 0 ? a : b;
}
