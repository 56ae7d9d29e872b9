/**
 * The volume service: the only place that combines EC2 (Cloud) and this machine (Host). It serialises work per
 * volume name, counts users per Docker mount ID, and rolls back what a failed Mount did.
 */
import path from 'node:path';
import { attachedTo } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import { anySignal } from '../common/signals';
import { AbandonedCreates } from './abandoned-creates';
import { VolumeAdministration } from './administration';
import { ClusterVolumes } from './cluster-volumes';
import { Catalog } from './catalog';
import { createVolume } from './create';
import type { ReleaseDeps, ServiceDeps } from './deps';
import { HeldRechecks } from './held-rechecks';
import { Lingering } from './lingering';
import { KeyedLocks } from './locks';
import { mountAbortReason, mountVolume } from './mount';
import type { VolumeOperations, VolumeUsage, VolumeUsageSource, VolumeView } from './operations';
import { validateVolumeName } from './names';
import { namesAvailabilityZone, parseCreateOptions } from './options';
import { PendingDetaches } from './pending-detaches';
import { Refcounts, type MountRecord } from './refcounts';
import { viewOf } from './views';
import { currentVolume } from './current-volume';
import { releaseVolume } from './release';
import { removeVolume } from './remove';
import { ZoneMoves } from './zone-move';

/** When users recorded by the last run are checked again after start. */
const INHERITED_CHECK_DELAYS_MS = [5_000, 20_000, 60_000, 300_000];
const SHUTDOWN_DETACH_BOUND_MS = 5_000;
const RECENTLY_CONFIRMED_MS = 2_000;

/**
 * The start Mount of Docker's create-then-start pair, on a lingering volume berth attached moments ago, need not ask
 * EC2 again: a takeover by another host waits EBS_RELEASEWAIT first, and would fence a running container just the same.
 */
function attachedMomentsAgo(record: MountRecord): boolean {
  return record.since !== undefined && Date.now() - record.since < RECENTLY_CONFIRMED_MS;
}

export class VolumeService implements VolumeOperations, VolumeUsageSource {
  private readonly locks = new KeyedLocks();
  private readonly refcounts: Refcounts;
  private readonly catalog: Catalog;
  private lastList?: { key: string; views: VolumeView[] };
  private readonly shuttingDown = new AbortController();
  private readonly zoneMoves: ZoneMoves;
  private readonly pendingDetaches: PendingDetaches;
  private readonly abandonedCreates: AbandonedCreates;
  private readonly lingering: Lingering;
  private readonly heldRechecks: HeldRechecks;
  private inheritedCheck?: NodeJS.Timeout;
  /** The day-two operations (the admin door's), under the same locks. */
  readonly admin: VolumeAdministration;
  /** Swarm cluster volumes (the CSI door's). */
  readonly cluster: ClusterVolumes;

  constructor(private readonly deps: ServiceDeps) {
    const { config, cloud, logger } = deps;
    this.refcounts = new Refcounts(path.join(config.stateDir, 'mounts.json'), deps.bootId, logger);
    this.catalog = new Catalog({ file: path.join(config.stateDir, 'volumes.json'), cloud, logger, ttlMs: config.listCacheMs, telemetry: deps.telemetry });
    this.zoneMoves = new ZoneMoves(deps);
    const underLock = (name: string, work: () => Promise<void>) => this.locks.run(name, work);
    this.pendingDetaches = new PendingDetaches(path.join(config.stateDir, 'pending-detaches.json'), cloud, logger, underLock);
    this.abandonedCreates = new AbandonedCreates(path.join(config.stateDir, 'abandoned-creates.json'), cloud, logger, underLock);
    this.lingering = new Lingering(config.releaseDelayMs, (name) => void this.releaseIfUnused(name));
    this.heldRechecks = new HeldRechecks((name) => void this.releaseIfUnused(name));
    this.admin = new VolumeAdministration({
      ...this.releaseDeps(),
      underLock: (name, work, signal) => this.locks.run(name, work, signal),
      hidden: (name) => this.abandonedCreates.has(name),
    });
    this.cluster = new ClusterVolumes({
      ...this.admin.sharedDeps(),
      zoneMoves: this.zoneMoves,
      create: (name, options) => this.create(name, options),
      remove: (name) => this.remove(name),
    });
  }

  /**
   * After a reboot every recorded mount is gone: the records are dropped and their volumes detached in the
   * background (Docker mounts again what it still needs). Within one boot, users recorded by the last run are
   * checked now and again over the next minutes: a container that died with a crashed dockerd is never unmounted
   * by Docker, and would otherwise pin its volume to this instance forever.
   */
  async reconcile(): Promise<void> {
    if (this.refcounts.fromEarlierBoot) {
      for (const name of this.refcounts.names()) {
        const record = this.refcounts.get(name)!;
        this.deps.logger.warn('forgetting a mount from before the last boot; detaching its volume', { volume: name, volumeId: record.volumeId });
        await this.refcounts.forget(name);
        await this.pendingDetaches.add(record.volumeId, name, 'the machine rebooted since it was mounted');
      }
      return;
    }
    // A run that ended while waiting for a held device to be let go: go on waiting.
    for (const name of this.refcounts.names()) if (this.refcounts.users(name) === 0) this.heldRechecks.schedule(name);
    await this.checkInheritedUsers();
  }

  async create(name: string, opts: Record<string, string> | null): Promise<void> {
    const { cloud, config } = this.deps;
    validateVolumeName(name, config.tag);
    const { spec, crossAZ } = parseCreateOptions(name, opts, {
      availabilityZone: cloud.identity().availabilityZone,
      regionZones: namesAvailabilityZone(opts) ? await this.regionZones() : undefined,
      fsType: config.fsType,
      kmsKeyId: config.kmsKeyId,
      volumeFileMode: config.volumeFileMode,
    });
    await this.locks.run(name, async () => {
      await this.abandonedCreates.settleNow(name);
      const volume = await createVolume({ ...spec, crossAZ }, this.deps, this.abandonedCreates);
      await this.catalog.remember(volume);
      this.deps.logger.info('volume ready', { volume: name, volumeId: volume.volumeId, availabilityZone: volume.availabilityZone });
    });
  }

  async remove(name: string): Promise<void> {
    validateVolumeName(name, this.deps.config.tag);
    const bound = anySignal([this.shuttingDown.signal, AbortSignal.timeout(this.removeBoundMs())]);
    await this.locks.run(name, async () => {
      if (this.refcounts.users(name) > 0) {
        throw new BerthError('in-use', `volume ${name} is mounted on this host by ${this.refcounts.users(name)} container(s); stop them first`);
      }
      this.lingering.cancel(name);
      this.heldRechecks.done(name);
      await this.abandonedCreates.settleNow(name);
      await releaseVolume(name, this.releaseDeps(), { reason: 'the volume is being removed' });
      await removeVolume(name, this.releaseDeps(), bound);
      await this.catalog.forget(name);
      // The volume is gone already: a directory left behind is worth a warning, not a failed Remove.
      await this.deps.host.removeMountDir(this.mountpoint(name)).catch((err: unknown) =>
        this.deps.logger.warn('could not remove the mount directory of a removed volume', { volume: name, error: errorMessage(err) }),
      );
    }, bound).catch((err: unknown) => {
      throw bound.aborted && !(err instanceof BerthError)
        ? new BerthError('timeout', `removing volume ${name} did not finish within ${this.removeBoundMs() / 1000} s (${errorMessage(err)}); try again`)
        : err;
    });
  }

  /** A Remove waits at most one status wait (a detach or delete) and one release wait (another host letting go). */
  private removeBoundMs(): number {
    return this.deps.config.statusTimeoutMs + this.deps.config.releaseWaitMs;
  }

  async mount(name: string, id: string, hangup: AbortSignal): Promise<string> {
    validateVolumeName(name, this.deps.config.tag);
    const deadline = AbortSignal.timeout(this.deps.config.mountTimeoutMs);
    const signal = anySignal([hangup, deadline, this.shuttingDown.signal]);
    const cutShort = (err: unknown) => {
      throw mountAbortReason(err, signal, `volume ${name}`, this.deps.config.mountTimeoutMs);
    };
    return this.locks.run(name, async () => {
      const wasLingering = this.lingering.cancel(name);
      this.heldRechecks.done(name);
      const existing = this.refcounts.get(name);
      if (existing && (await this.deps.host.mountedSource(existing.mountpoint))) {
        if ((wasLingering && attachedMomentsAgo(existing)) || (await this.stillAttachedHere(existing.volumeId, signal))) {
          await this.refcounts.acquire(name, id, existing);
          return this.dataPath(name);
        }
        await this.dropStaleMount(name, existing.mountpoint, existing.volumeId);
      }
      signal.throwIfAborted();
      let volume = this.abandonedCreates.has(name) ? undefined : await this.currentVolume(name, signal);
      if (!volume) throw new BerthError('not-found', `volume ${name} not found`);
      const found = volume;
      const wasDetaching = await this.pendingDetaches.cancel(found.volumeId);
      let mounted: Awaited<ReturnType<typeof mountVolume>>;
      try {
        if (volume.availabilityZone !== this.deps.cloud.identity().availabilityZone) {
          volume = await this.zoneMoves.bringHere(volume, signal);
          await this.catalog.remember(volume);
        }
        mounted = await mountVolume(volume, this.mountpoint(name), this.dataPath(name), signal, this.releaseDeps());
      } catch (err) {
        // Left as found: a volume that was on its way off this instance still is.
        if (wasDetaching) await this.pendingDetaches.add(found.volumeId, name, `the Mount that cancelled its detach failed: ${errorMessage(err)}`);
        throw err;
      }
      await this.refcounts.acquire(name, id, mounted.record);
      await this.catalog.remember(mounted.volume);
      return this.dataPath(name);
    }, signal).catch(cutShort);
  }

  async unmount(name: string, id: string): Promise<void> {
    validateVolumeName(name, this.deps.config.tag);
    await this.locks.run(name, async () => {
      const record = this.refcounts.get(name);
      if (!record) return;
      const left = await this.refcounts.release(name, id);
      if (left > 0 && !this.refcounts.onlyInheritedUsers(name)) return;
      if (left === 0 && this.lingering.shouldLinger(record.since)) {
        this.lingering.start(name);
        return;
      }
      if (left === 0) await this.releaseUnused(name, 'its last user unmounted it');
      else await releaseVolume(name, this.releaseDeps(), { reason: 'its other users are from before berth restarted' });
    });
  }

  async path(name: string): Promise<string | undefined> {
    validateVolumeName(name, this.deps.config.tag);
    return this.refcounts.get(name) ? this.dataPath(name) : undefined;
  }

  async get(name: string): Promise<VolumeView | undefined> {
    validateVolumeName(name, this.deps.config.tag);
    if (this.abandonedCreates.has(name)) return undefined;
    const { volume, stale } = await this.catalog.lookUp(name);
    return volume ? this.info(volume, stale) : undefined;
  }

  /**
   * The same array as the last answer while nothing it shows changed: with thousands of volumes, building the views
   * (and Docker's answer from them, which the front door keeps per array) costs more than the rest of a List.
   */
  usage(): VolumeUsage {
    return {
      known: this.catalog.count(),
      mounted: this.refcounts.names().map((name) => ({ name, users: this.refcounts.users(name) })),
    };
  }

  async list(): Promise<VolumeView[]> {
    const { volumes, stale } = await this.catalog.list();
    const key = `${this.catalog.version} ${this.refcounts.version} ${this.abandonedCreates.version} ${stale}`;
    if (this.lastList?.key === key) return this.lastList.views;
    const views = volumes.filter((volume) => !this.abandonedCreates.has(volume.name)).map((volume) => this.info(volume, stale));
    this.lastList = { key, views };
    return views;
  }

  /**
   * The region's zones, to check a zone option against; unknown when EC2 will not tell (a policy without
   * DescribeAvailabilityZones, say): EC2 then refuses an unknown zone itself, and its error names the option.
   */
  private async regionZones(): Promise<string[] | undefined> {
    try {
      return await this.deps.cloud.availabilityZones();
    } catch (err) {
      this.deps.logger.warn('cannot list the region\'s availability zones; leaving the zone option to EC2', { error: errorMessage(err) });
      return undefined;
    }
  }

  /** Lets in-flight calls finish or roll back; never unmounts or detaches what is in use. */
  async shutdown(): Promise<void> {
    this.shuttingDown.abort(new BerthError('not-ready', 'berth is shutting down'));
    clearTimeout(this.inheritedCheck);
    await this.locks.idle();
    this.heldRechecks.stop();
    await Promise.all(this.lingering.names().map((name) => this.releaseIfUnused(name, SHUTDOWN_DETACH_BOUND_MS)));
    await this.refcounts.persist();
    await this.catalog.close();
    await Promise.all([this.pendingDetaches.stop(), this.abandonedCreates.stop()]);
  }

  /** Releases a volume whose linger or recheck is due, unless a Mount took it again meanwhile. */
  private async releaseIfUnused(name: string, detachBoundMs = this.deps.config.statusTimeoutMs): Promise<void> {
    this.lingering.cancel(name);
    try {
      await this.locks.run(name, async () => {
        if (!this.refcounts.get(name) || this.refcounts.users(name) > 0) return this.heldRechecks.done(name);
        await this.releaseUnused(name, 'its last user unmounted it', AbortSignal.timeout(detachBoundMs));
      });
    } catch (err) {
      this.deps.logger.error('releasing a volume after its last Unmount failed', { volume: name, error: errorMessage(err) });
    }
  }

  /**
   * Volumes whose users were all recorded by the last run: if nothing on the machine holds the device any more,
   * those users are gone and the volume is released (detached in the background). Repeated a few times over the
   * first minutes (Docker kills what died with dockerd soon after it restarts); after that, an Unmount that leaves
   * only such users checks again.
   */
  private async checkInheritedUsers(round = 0): Promise<void> {
    for (const name of this.refcounts.namesWithOnlyInheritedUsers()) {
      try {
        await this.locks.run(name, async () => {
          if (!this.refcounts.onlyInheritedUsers(name)) return;
          const outcome = await releaseVolume(name, this.releaseDeps(), {
            reason: 'no container holds it since berth restarted (Docker never unmounts a container that died with dockerd)',
            detachInBackground: true,
          });
          if (outcome === 'still-held') this.deps.logger.info('volume in use since before berth restarted; the next Mount mounts berth\'s side again', { volume: name });
        });
      } catch (err) {
        this.deps.logger.error('checking a volume\'s users from before the restart failed', { volume: name, error: errorMessage(err) });
      }
    }
    if (round >= INHERITED_CHECK_DELAYS_MS.length || this.shuttingDown.signal.aborted) return;
    if (this.refcounts.namesWithOnlyInheritedUsers().length === 0) return;
    this.inheritedCheck = setTimeout(() => void this.checkInheritedUsers(round + 1), INHERITED_CHECK_DELAYS_MS[round]).unref();
  }

  /**
   * Caller holds the lock; no user is left. A device something else still holds is checked again until it is free
   * (see held-rechecks.ts): with no user left, nothing else would ever release it.
   */
  private async releaseUnused(name: string, reason: string, signal?: AbortSignal): Promise<void> {
    const outcome = await releaseVolume(name, this.releaseDeps(), { reason, signal });
    if (outcome !== 'still-held') return this.heldRechecks.done(name);
    const inMs = this.heldRechecks.schedule(name);
    this.deps.logger.info('no user left but the device is still held on this machine; checking again', { volume: name, inMs });
  }

  private releaseDeps(): ReleaseDeps {
    return { ...this.deps, refcounts: this.refcounts, catalog: this.catalog, pendingDetaches: this.pendingDetaches };
  }

  /** False once EC2 says the volume left this instance (force-detached by another host: our mount is fenced). */
  private async stillAttachedHere(volumeId: string, signal: AbortSignal): Promise<boolean> {
    return attachedTo(await this.deps.cloud.describe(volumeId, signal), this.deps.cloud.identity().instanceId);
  }

  /** Forgets a mount whose volume was taken away: unmounting a fenced filesystem writes nothing to the volume. */
  private async dropStaleMount(name: string, mountpoint: string, volumeId: string): Promise<void> {
    this.deps.logger.warn('volume is no longer attached to this instance: dropping its stale mount', { volume: name, volumeId, mountpoint });
    await this.deps.host.unmount(mountpoint);
    await this.refcounts.forget(name);
  }

  /**
   * The volume as EC2 sees it now, for Mount: attachments matter, but an answer from the last second (the Create
   * just before) will do, as EC2 refuses to attach a volume that another host took meanwhile.
   */
  private currentVolume(name: string, signal: AbortSignal): Promise<CloudVolume | undefined> {
    return currentVolume(name, { cloud: this.deps.cloud, catalog: this.catalog }, signal, { acceptRecent: true });
  }

  private info(volume: CloudVolume, stale: boolean): VolumeView {
    return viewOf(volume, this.refcounts.get(volume.name) ? this.dataPath(volume.name) : undefined, stale);
  }

  private mountpoint(name: string): string {
    return path.join(this.deps.config.mountRoot, name);
  }

  /** REX-Ray's layout: the container gets a directory inside the filesystem (default /data). */
  private dataPath(name: string): string {
    return path.join(this.mountpoint(name), this.deps.config.volumeRootPath);
  }
}
