/**
 * The Cloud interface over EC2: finding, creating, attaching and detaching EBS volumes for this instance.
 * Tag conventions live in tags.ts, device names in devices.ts, polling in ../common/poll.ts, error mapping in errors.ts.
 */
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  type CreateVolumeCommandInput,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Filter,
  type Volume,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { createHash } from 'node:crypto';
import type { Config } from '../config';
import { BerthError, errorMessage } from '../common/errors';
import type { Logger } from '../log';
import { Batcher } from './batcher';
import { buildEc2Client, type ClientConfig } from './client';
import { DeviceAllocator } from './devices';
import { errorCodeOf, hasErrorCode, mapEc2Error } from './errors';
import { attachedElsewhereError, attachmentTo, heldElsewhere, liveAttachments } from './attachments';
import { MetadataClient, readInstanceIdentity } from './metadata';
import {
  TAGS,
  belongsTo,
  isGone,
  isRetired,
  movedVolumeTags,
  nameFilters,
  namespaceFilters,
  namespaceOf,
  oldestFirst,
  rexrayNameFilters,
  rexrayNamespaceFilters,
  snapshotTagSpecifications,
  toCloudVolume,
  volumeTagSpecifications,
} from './tags';
import type { AttachOptions, Attachment, Cloud, CloudVolume, CreateVolumeSpec, DetachOptions, InstanceIdentity } from './types';
import { WaitTimeoutError, waitFor, type PollResult } from '../common/poll';

export type CloudConfig = ClientConfig &
  Pick<
    Config,
    'statusInitialDelayMs' | 'statusMaxAttempts' | 'statusTimeoutMs' | 'useLargeDeviceRange' | 'tag' | 'adoptRexray' | 'kmsKeyId' | 'fsType'
  >;

export interface EbsCloudOptions {
  ec2: EC2Client;
  identity: InstanceIdentity;
  config: CloudConfig;
  logger: Logger;
  /** From buildEc2Client; a client built elsewhere reports 0. */
  throttledCount?: () => number;
  /** How long describe() collects ids before one DescribeVolumes call. */
  batchWindowMs?: number;
}

/** ClientToken generations tried per create before giving up (each burned token is one quick CreateVolume call). */
export const MAX_GENERATIONS = 20;
/** Longest time an attachment may stay `attaching` before berth detaches it again. */
export const STUCK_ATTACHING_MS = 20_000;
/** Device names tried per attach after EC2 answers "already in use". */
export const MAX_DEVICE_TRIES = 8;
const INSTANCE_DEVICES_CACHE_MS = 2_000;
/**
 * How long a describe() answer showing the volume unattached may serve as attach's first look: the volume
 * service describes a volume just before attaching it. A stale answer is safe: EC2 refuses the AttachVolume.
 */
const RECENT_DESCRIBE_MS = 1_000;
/**
 * How long a namespace listing that lacks a name may stand in for create's own lookup of that name: Docker asks
 * Get (a listing when berth's cache is stale) just before Create. A name created elsewhere meanwhile is still
 * caught: its ClientToken returns the same volume or a mismatch, and a duplicate is settled as in any race.
 */
const LISTING_REUSE_MS = 2_000;
const MAX_PAGES = 1_000;
/** A DetachVolume is repeated when the attachment still reads `attached` this long after the last request. */
const DETACH_REPEAT_MS = 5_000;
/**
 * Status polls come at most this share of the time waited so far apart, and at most POLL_PRECISION_FLOOR_MS apart
 * in the first second (common/poll.ts `precision`): a 2 s attach is noticed within about 0.2 s instead of up to 0.9 s,
 * for about 20 DescribeVolumes calls instead of 10 (fewer when several waits share a batch).
 */
export const POLL_PRECISION = 0.1;
export const POLL_PRECISION_FLOOR_MS = 100;

/** hex(sha256(namespace NUL name NUL generation)): racing hosts creating one name send one token. */
export function clientToken(namespace: string, name: string, generation: number): string {
  return createHash('sha256').update(`${namespace}\0${name}\0${generation}`).digest('hex').slice(0, 64);
}

function isDeviceInUse(err: unknown, device: string): boolean {
  if (hasErrorCode(err, 'InvalidDevice.InUse')) return true;
  const message = errorMessage(err);
  return hasErrorCode(err, 'InvalidParameterValue') && (message.includes(device) || /already in use/i.test(message));
}

const ALREADY_DETACHED = ['IncorrectState', 'InvalidAttachment.NotFound'];

export class EbsCloud implements Cloud {
  private readonly ec2: EC2Client;
  private readonly me: InstanceIdentity;
  private readonly config: CloudConfig;
  private readonly logger: Logger;
  private readonly throttled: () => number;
  private readonly batcher: Batcher<string, Volume>;
  private readonly allocator: DeviceAllocator;
  private instanceDevices: { names: Promise<string[]>; until: number } | undefined;
  private readonly recent = new Map<string, { volume: CloudVolume; at: number }>();
  private lastListing: { names: Set<string>; at: number } | undefined;

  constructor(options: EbsCloudOptions) {
    this.ec2 = options.ec2;
    this.me = options.identity;
    this.config = options.config;
    this.logger = options.logger;
    this.throttled = options.throttledCount ?? (() => 0);
    this.allocator = new DeviceAllocator({ useLargeDeviceRange: options.config.useLargeDeviceRange });
    this.batcher = new Batcher<string, Volume>({
      windowMs: options.batchWindowMs,
      fetchMany: async (volumeIds) => {
        const out = await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: volumeIds }));
        return new Map((out.Volumes ?? []).map((volume) => [volume.VolumeId ?? '', volume]));
      },
      fetchOne: async (volumeId) => {
        try {
          const out = await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
          return out.Volumes?.find((volume) => volume.VolumeId === volumeId);
        } catch (err) {
          if (hasErrorCode(err, 'InvalidVolume.NotFound', 'InvalidVolumeID.Malformed')) return undefined;
          throw err;
        }
      },
      splitOn: (err) => hasErrorCode(err, 'InvalidVolume.NotFound', 'InvalidVolumeID.Malformed', 'InvalidParameterValue'),
    });
  }

  identity(): InstanceIdentity {
    return { ...this.me };
  }

  throttledCount(): number {
    return this.throttled();
  }

  async findByName(name: string, signal?: AbortSignal): Promise<CloudVolume | undefined> {
    const { tag, adoptRexray } = this.config;
    const own = this.ownNamed(await this.queryVolumes(nameFilters(tag, name), signal), name);
    if (own.length > 0) return this.pickOne(own, name);
    if (!adoptRexray) return undefined;
    const rexray = (await this.queryVolumes(rexrayNameFilters(tag, name), signal)).filter(
      (volume) => volume.owner === 'rexray' && belongsTo(volume, tag, true) && volume.name === name,
    );
    return rexray.length > 0 ? this.pickOne(rexray, name) : undefined;
  }

  async listVolumes(signal?: AbortSignal): Promise<CloudVolume[]> {
    const { tag, adoptRexray } = this.config;
    const started = Date.now();
    const found = (await this.queryVolumes(namespaceFilters(tag), signal)).filter((volume) => volume.owner === 'berth' && belongsTo(volume, tag, false));
    if (adoptRexray) {
      const rexray = await this.queryVolumes(rexrayNamespaceFilters(tag), signal);
      found.push(...rexray.filter((volume) => volume.owner === 'rexray' && belongsTo(volume, tag, true)));
    }
    // One volume per name, the same one findByName picks: berth's before REX-Ray's, then the oldest.
    const byName = new Map<string, CloudVolume>();
    for (const volume of found.sort(oldestFirst)) {
      const kept = byName.get(volume.name);
      if (!kept || (kept.owner === 'rexray' && volume.owner === 'berth')) byName.set(volume.name, volume);
    }
    this.lastListing = { names: new Set(byName.keys()), at: started };
    return [...byName.values()];
  }

  async describe(volumeId: string, signal?: AbortSignal): Promise<CloudVolume | undefined> {
    let volume: Volume | undefined;
    try {
      volume = await this.batcher.load(volumeId, signal);
    } catch (err) {
      throw mapEc2Error(err, `DescribeVolumes ${volumeId}`);
    }
    const parsed = volume && this.parse(volume);
    this.noteRecent(volumeId, parsed);
    return parsed;
  }

  async create(spec: CreateVolumeSpec, signal?: AbortSignal): Promise<CloudVolume> {
    const existing = this.listedRecentlyWithout(spec.name) ? undefined : await this.findByName(spec.name, signal);
    if (existing) return this.untilAvailable(existing, signal);
    const namespace = namespaceOf(this.config.tag);
    for (let generation = 1; generation <= MAX_GENERATIONS; generation++) {
      const token = clientToken(namespace, spec.name, generation);
      let created: { VolumeId?: string; State?: string };
      try {
        created = await this.ec2.send(new CreateVolumeCommand(this.createInput(spec, generation, token)), { abortSignal: signal });
      } catch (err) {
        if (!hasErrorCode(err, 'IdempotentParameterMismatch')) throw mapEc2Error(err, `CreateVolume ${spec.name}`);
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, 'IdempotentParameterMismatch', signal);
        if (winner) return winner;
        continue;
      }
      const volumeId = created.VolumeId ?? '';
      if (created.State === 'deleting' || created.State === 'deleted') {
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, `its token returned ${volumeId}, ${created.State}`, signal);
        if (winner) return winner;
        continue;
      }
      const { volume, sameName } = await this.waitCreated(spec.name, volumeId, signal);
      if (isGone(volume) || isRetired(volume) || volume.name !== spec.name) {
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, `its token returned ${volumeId}, which is ${volume.state}${isRetired(volume) ? ' and retired' : ''}`, signal);
        if (winner) return winner;
        continue;
      }
      return this.settleRace(volume, sameName, signal);
    }
    throw new BerthError(
      'cloud',
      `cannot create volume ${spec.name}: the ClientTokens of its first ${MAX_GENERATIONS} generations are all held by earlier volumes ` +
        'of that name (EC2 remembers a token for some time after its volume is deleted); try again later',
    );
  }

  async delete(volumeId: string, signal?: AbortSignal): Promise<void> {
    this.recent.delete(volumeId);
    try {
      await this.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }), { abortSignal: signal });
    } catch (err) {
      if (hasErrorCode(err, 'InvalidVolume.NotFound')) return;
      throw mapEc2Error(err, `DeleteVolume ${volumeId}`);
    }
  }

  async snapshot(volumeId: string, description: string, signal?: AbortSignal): Promise<string> {
    const volume = await this.describe(volumeId, signal);
    if (!volume) throw new BerthError('not-found', `cannot snapshot ${volumeId}: no such volume`);
    try {
      const out = await this.ec2.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: description,
          TagSpecifications: snapshotTagSpecifications(volume.name, this.config.tag, volumeId),
        }),
        { abortSignal: signal },
      );
      return out.SnapshotId ?? '';
    } catch (err) {
      throw mapEc2Error(err, `CreateSnapshot ${volumeId}`);
    }
  }

  async attach(volumeId: string, signal: AbortSignal, options: AttachOptions = {}): Promise<string> {
    const until = (device: string) => this.untilAttached(volumeId, device, signal, options.deviceAppeared);
    let volume = this.recentlyUnattached(volumeId) ?? (await this.requireVolume(volumeId, 'attach', signal));
    this.refuseIfAttachedElsewhere(volume);
    const current = this.attachmentHere(volume);
    if (current && (current.state === 'attached' || current.state === 'attaching' || current.state === 'busy')) {
      this.logger.debug('volume already attached here; reusing its device', { volumeId, device: current.device, state: current.state });
      return current.state === 'attaching' ? until(current.device) : current.device;
    }
    if (current?.state === 'detaching') await this.waitDetached(volumeId, this.me.instanceId, signal);
    if (volume.state === 'creating') volume = await this.waitAvailable(volumeId, signal);
    if (volume.state !== 'available' && volume.state !== 'in-use') {
      throw new BerthError('cloud', `cannot attach ${volumeId}: the volume is ${volume.state}`);
    }

    this.recent.delete(volumeId);
    for (let tries = 1; ; tries++) {
      const device = await this.allocator.allocate(volumeId, () => this.namesInUseHere(signal));
      try {
        await this.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: this.me.instanceId, Device: device }), {
          abortSignal: signal,
        });
      } catch (err) {
        if (signal.aborted) {
          // EC2 may have started the attachment before the call was cut off.
          throw await this.abandonAttach(volumeId, device, 'could not be attached before the deadline (AttachVolume was cancelled)', err, false);
        }
        this.allocator.release(volumeId);
        this.forgetInstanceDevices();
        if (isDeviceInUse(err, device)) {
          this.allocator.markLikelyBad(device);
          if (tries >= MAX_DEVICE_TRIES) {
            throw new BerthError(
              'cloud',
              `cannot attach ${volumeId}: EC2 refused ${tries} device names in a row as already in use on ${this.me.instanceId} ` +
                `although the instance does not list them (last: ${device}: ${errorMessage(err)})`,
              { cause: err },
            );
          }
          this.logger.warn('device name already in use on this instance; trying the next one', { volumeId, device, code: errorCodeOf(err) });
          continue;
        }
        if (hasErrorCode(err, 'VolumeInUse')) {
          const now = await this.requireVolume(volumeId, 'attach', signal);
          this.refuseIfAttachedElsewhere(now);
          const here = this.attachmentHere(now);
          if (here && here.state !== 'detaching') return here.state === 'attached' ? here.device : until(here.device);
        }
        throw mapEc2Error(err, `AttachVolume ${volumeId} to ${this.me.instanceId} at ${device}`);
      }
      // The cached device list stays valid: the allocator keeps this name reserved until the volume is detached.
      return until(device);
    }
  }

  async detach(volumeId: string, options: DetachOptions, signal: AbortSignal): Promise<void> {
    const instanceId = options.instanceId ?? this.me.instanceId;
    const requested = await this.requestDetach(volumeId, instanceId, options.force ?? false, signal);
    if (requested === 'volume-gone') return this.afterDetach(volumeId, instanceId);
    await this.waitDetached(volumeId, instanceId, signal, options.force ?? false);
    this.afterDetach(volumeId, instanceId);
  }

  async markFormatted(volumeId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.ec2.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.unformatted }] }), { abortSignal: signal });
    } catch (err) {
      throw mapEc2Error(err, `DeleteTags ${TAGS.unformatted} on ${volumeId}`);
    }
  }

  /**
   * Takes the volume out of service without deleting it: `berth:retired` = `<reason> <name> <ISO time>` is added
   * first (a REX-Ray volume carrying any berth tag is no longer adopted), then berth:namespace and berth:name are
   * removed, so no lookup by name finds it again and its name can be used for a new volume.
   */
  async retire(volumeId: string, reason: 'retained' | 'moved', signal?: AbortSignal): Promise<void> {
    const volume = await this.describe(volumeId, signal);
    if (!volume) throw new BerthError('not-found', `cannot retire ${volumeId}: no such volume`);
    const marker = `${reason} ${volume.name} ${new Date().toISOString()}`;
    try {
      await this.ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.retired, Value: marker }] }), { abortSignal: signal });
      await this.ec2.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.namespace }, { Key: TAGS.volumeName }] }), {
        abortSignal: signal,
      });
    } catch (err) {
      throw mapEc2Error(err, `retiring ${volumeId} (${volume.name})`);
    }
  }

  async moveToZone(volume: CloudVolume, availabilityZone: string, signal?: AbortSignal): Promise<CloudVolume> {
    const from = `${volume.volumeId} in ${volume.availabilityZone}`;
    const snapshotId = await this.snapshot(volume.volumeId, `berth: moving volume ${volume.name} from ${volume.availabilityZone} to ${availabilityZone}`, signal);
    this.logger.info('moving volume to another availability zone', { name: volume.name, from, to: availabilityZone, snapshotId });
    await this.waitSnapshotCompleted(snapshotId, signal);
    const token = createHash('sha256')
      .update(`${namespaceOf(this.config.tag)}\0${volume.name}\0move\0${volume.volumeId}\0${availabilityZone}`)
      .digest('hex')
      .slice(0, 64);
    let moved: CloudVolume;
    try {
      const out = await this.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: availabilityZone,
          SnapshotId: snapshotId,
          Size: volume.sizeGiB,
          VolumeType: volume.volumeType as VolumeType,
          ...(['io1', 'io2', 'gp3'].includes(volume.volumeType) && volume.iops !== undefined ? { Iops: volume.iops } : {}),
          ...(volume.volumeType === 'gp3' && volume.throughput !== undefined ? { Throughput: volume.throughput } : {}),
          Encrypted: volume.encrypted,
          ...(volume.kmsKeyId ? { KmsKeyId: volume.kmsKeyId } : {}),
          ClientToken: token,
          TagSpecifications: [{ ResourceType: 'volume', Tags: movedVolumeTags(volume) }],
        }),
        { abortSignal: signal },
      );
      moved = await this.waitAvailable(out.VolumeId ?? '', signal);
    } catch (err) {
      if (!hasErrorCode(err, 'IdempotentParameterMismatch')) throw err instanceof BerthError ? err : mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      // Another host is moving it too (from its own snapshot): use the volume it made.
      const theirs = (await this.queryVolumes(nameFilters(this.config.tag, volume.name), signal)).find(
        (candidate) => candidate.availabilityZone === availabilityZone && candidate.tags[TAGS.movedFrom] === volume.volumeId && !isGone(candidate),
      );
      if (!theirs) throw mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      moved = await this.untilAvailable(theirs, signal);
    }
    await this.retire(volume.volumeId, 'moved', signal);
    this.logger.info('volume moved', { name: volume.name, from, to: `${moved.volumeId} in ${availabilityZone}`, snapshotId });
    return moved;
  }

  private waitSnapshotCompleted(snapshotId: string, signal?: AbortSignal): Promise<true> {
    return waitFor<true>(
      async () => {
        let state: string | undefined;
        try {
          const out = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: signal });
          state = out.Snapshots?.[0]?.State;
        } catch (err) {
          throw mapEc2Error(err, `DescribeSnapshots ${snapshotId}`);
        }
        if (state === 'error') throw new BerthError('cloud', `snapshot ${snapshotId} failed`);
        return state === 'completed' ? { done: true, value: true } : { done: false, state: state ?? 'not visible yet' };
      },
      this.waitOptions(`snapshot ${snapshotId} to complete`, this.config.statusTimeoutMs, signal),
    );
  }

  // --- lookups ---

  private parse(volume: Volume): CloudVolume {
    return toCloudVolume(volume, { ebsTag: this.config.tag, defaultFsType: this.config.fsType });
  }

  private async queryVolumes(filters: Filter[], signal?: AbortSignal): Promise<CloudVolume[]> {
    const volumes: CloudVolume[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      let out;
      try {
        out = await this.ec2.send(new DescribeVolumesCommand({ Filters: filters, MaxResults: 500, NextToken: nextToken }), { abortSignal: signal });
      } catch (err) {
        throw mapEc2Error(err, `DescribeVolumes ${describeFilters(filters)}`);
      }
      volumes.push(...(out.Volumes ?? []).map((volume) => this.parse(volume)));
      nextToken = out.NextToken;
      if (!nextToken) break;
    }
    return volumes;
  }

  /** berth's own live volumes of this namespace carrying this name. */
  private ownNamed(volumes: CloudVolume[], name: string): CloudVolume[] {
    return volumes.filter((volume) => volume.owner === 'berth' && belongsTo(volume, this.config.tag, false) && volume.name === name);
  }

  /** True when a namespace listing under LISTING_REUSE_MS old found no volume of this name. */
  private listedRecentlyWithout(name: string): boolean {
    const listing = this.lastListing;
    return listing !== undefined && Date.now() - listing.at <= LISTING_REUSE_MS && !listing.names.has(name);
  }

  private pickOne(volumes: CloudVolume[], name: string): CloudVolume {
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

  private async requireVolume(volumeId: string, action: string, signal?: AbortSignal): Promise<CloudVolume> {
    const volume = await this.describe(volumeId, signal);
    if (!volume || isGone(volume)) throw new BerthError('not-found', `cannot ${action} ${volumeId}: no such volume`);
    return volume;
  }

  private noteRecent(volumeId: string, volume: CloudVolume | undefined): void {
    if (!volume) {
      this.recent.delete(volumeId);
      return;
    }
    const now = Date.now();
    this.recent.set(volumeId, { volume, at: now });
    if (this.recent.size > 256) {
      for (const [id, entry] of this.recent) if (now - entry.at > RECENT_DESCRIBE_MS) this.recent.delete(id);
    }
  }

  /** What describe() heard within RECENT_DESCRIBE_MS, if it showed the volume available and attached nowhere. */
  private recentlyUnattached(volumeId: string): CloudVolume | undefined {
    const entry = this.recent.get(volumeId);
    if (!entry || Date.now() - entry.at > RECENT_DESCRIBE_MS) return undefined;
    const { volume } = entry;
    return volume.state === 'available' && liveAttachments(volume).length === 0 ? volume : undefined;
  }

  private attachmentHere(volume: CloudVolume): Attachment | undefined {
    return attachmentTo(volume, this.me.instanceId);
  }

  private refuseIfAttachedElsewhere(volume: CloudVolume): void {
    const other = heldElsewhere(volume, this.me.instanceId);
    if (other) throw attachedElsewhereError(volume, other, `not to this one (${this.me.instanceId})`);
  }

  /** Device names of this instance's block device mappings (DescribeInstances; IMDS can be stale), cached briefly. */
  private namesInUseHere(signal?: AbortSignal): Promise<string[]> {
    const now = Date.now();
    if (this.instanceDevices && this.instanceDevices.until > now) return this.instanceDevices.names;
    const names = this.ec2
      .send(new DescribeInstancesCommand({ InstanceIds: [this.me.instanceId] }), { abortSignal: signal })
      .then((out) =>
        (out.Reservations ?? [])
          .flatMap((reservation) => reservation.Instances ?? [])
          .flatMap((instance) => instance.BlockDeviceMappings ?? [])
          .map((mapping) => mapping.DeviceName ?? '')
          .filter(Boolean),
      )
      .catch((err: unknown) => {
        this.forgetInstanceDevices();
        throw mapEc2Error(err, `DescribeInstances ${this.me.instanceId}`);
      });
    this.instanceDevices = { names, until: now + INSTANCE_DEVICES_CACHE_MS };
    return names;
  }

  private forgetInstanceDevices(): void {
    this.instanceDevices = undefined;
  }

  // --- create ---

  private createInput(spec: CreateVolumeSpec, generation: number, token: string): CreateVolumeCommandInput {
    const kmsKeyId = spec.kmsKeyId || this.config.kmsKeyId || undefined;
    const input: CreateVolumeCommandInput = {
      AvailabilityZone: spec.availabilityZone || this.me.availabilityZone,
      Size: spec.sizeGiB,
      Encrypted: spec.encrypted || kmsKeyId !== undefined,
      ClientToken: token,
      TagSpecifications: volumeTagSpecifications(spec, this.config.tag, generation),
    };
    if (spec.volumeType) input.VolumeType = spec.volumeType as VolumeType;
    if (spec.iops !== undefined) input.Iops = spec.iops;
    if (spec.throughput !== undefined) input.Throughput = spec.throughput;
    if (kmsKeyId) input.KmsKeyId = kmsKeyId;
    if (spec.snapshotId) input.SnapshotId = spec.snapshotId;
    return input;
  }

  /** A token of this name is burned: another host may have created the volume meanwhile; adopt it if so. */
  private async adoptAfterBurnedToken(name: string, generation: number, why: string, signal?: AbortSignal): Promise<CloudVolume | undefined> {
    const found = await this.findByName(name, signal);
    if (found) {
      this.logger.info('volume created meanwhile by another host or call; using it', { name, volumeId: found.volumeId, generation, why });
      return this.untilAvailable(found, signal);
    }
    this.logger.debug('ClientToken generation already used; trying the next', { name, generation, why });
    return undefined;
  }

  /**
   * Racing hosts whose tag lookups missed each other's new volume end with two volumes of one name. Both pick
   * the oldest (as findByName does); the newer one, never attached nor formatted, is deleted again.
   */
  private async settleRace(mine: CloudVolume, sameName: CloudVolume[], signal?: AbortSignal): Promise<CloudVolume> {
    const candidates = this.ownNamed(sameName, mine.name);
    const winner = candidates.length > 0 ? this.pickOne(candidates, mine.name) : undefined;
    if (!winner || winner.volumeId === mine.volumeId) return mine;
    this.logger.warn('another volume of this name was created at the same time; using the older one', {
      name: mine.name,
      using: winner.volumeId,
      deleting: mine.volumeId,
    });
    const fresh = await this.describe(mine.volumeId, signal);
    if (fresh && fresh.state === 'available' && fresh.unformatted && fresh.attachments.length === 0) {
      await this.delete(mine.volumeId, signal).catch((err: unknown) =>
        this.logger.warn('could not delete the duplicate volume', { volumeId: mine.volumeId, error: errorMessage(err) }),
      );
    }
    return this.untilAvailable(winner, signal);
  }

  private untilAvailable(volume: CloudVolume, signal?: AbortSignal): Promise<CloudVolume> {
    return volume.state === 'creating' ? this.waitAvailable(volume.volumeId, signal) : Promise.resolve(volume);
  }

  /**
   * Waits while a volume just created is `creating`, looking it up by its name: the answer that shows it
   * available also shows any other volume of that name created at the same time (for settleRace). While the
   * name lookup does not show it (tags seen late, or a token that returned a volume without those tags), its id
   * is described too.
   */
  private waitCreated(name: string, volumeId: string, signal?: AbortSignal): Promise<{ volume: CloudVolume; sameName: CloudVolume[] }> {
    return waitFor<{ volume: CloudVolume; sameName: CloudVolume[] }>(
      async () => {
        const sameName = await this.queryVolumes(nameFilters(this.config.tag, name), signal);
        const volume = sameName.find((candidate) => candidate.volumeId === volumeId) ?? (await this.describe(volumeId, signal));
        if (!volume) return { done: false, state: 'not visible yet' };
        if (volume.state === 'creating') return { done: false, state: 'creating' };
        if (volume.state === 'error') throw this.createFailed(volumeId);
        return { done: true, value: { volume, sameName } };
      },
      this.waitOptions(`${volumeId} to become available`, this.config.statusTimeoutMs, signal),
    );
  }

  private createFailed(volumeId: string): BerthError {
    return new BerthError(
      'cloud',
      `volume ${volumeId} entered the error state while being created (an unusable KMS key or source snapshot can cause this)`,
    );
  }

  /** Waits while the volume is `creating` (or not visible yet); resolves with the first other state seen. */
  private waitAvailable(volumeId: string, signal?: AbortSignal): Promise<CloudVolume> {
    return waitFor<CloudVolume>(
      async () => {
        const volume = await this.describe(volumeId, signal);
        if (!volume) return { done: false, state: 'not visible yet' };
        if (volume.state === 'creating') return { done: false, state: 'creating' };
        if (volume.state === 'error') throw this.createFailed(volumeId);
        return { done: true, value: volume };
      },
      this.waitOptions(`${volumeId} to become available`, this.config.statusTimeoutMs, signal),
    );
  }

  // --- attach and detach ---

  /** EC2's word or the device itself, whichever comes first: at zero delay or on a fast attach, no poll at all. */
  private async untilAttached(volumeId: string, device: string, signal: AbortSignal, deviceAppeared?: AttachOptions['deviceAppeared']): Promise<string> {
    if (!deviceAppeared) return this.waitAttached(volumeId, device, signal);
    const settled = new AbortController();
    const either = AbortSignal.any([signal, settled.signal]);
    const seen = deviceAppeared(device, either).then(
      () => device,
      () => new Promise<string>(() => undefined),
    );
    try {
      return await Promise.race([this.waitAttached(volumeId, device, signal, settled.signal), seen]);
    } finally {
      settled.abort();
    }
  }

  /**
   * Waits until this instance's attachment is `attached`; detaches it again when it stays `attaching`. Ends quietly
   * with the device once `settled` aborts (the device was seen first).
   */
  private async waitAttached(volumeId: string, device: string, signal: AbortSignal, settled?: AbortSignal): Promise<string> {
    const boundMs = Math.min(this.config.statusTimeoutMs, STUCK_ATTACHING_MS);
    const pollSignal = settled ? AbortSignal.any([signal, settled]) : signal;
    try {
      return await waitFor<string>(
        async () => {
          const volume = await this.requireVolume(volumeId, 'attach', signal);
          const here = this.attachmentHere(volume);
          if (here?.state === 'attached') {
            if (here.device && here.device !== device) {
              this.logger.warn('EC2 reports another device name than requested', { volumeId, requested: device, reported: here.device });
            }
            return { done: true, value: here.device || device };
          }
          this.refuseIfAttachedElsewhere(volume);
          return { done: false, state: here ? `${here.state} at ${here.device}` : 'no attachment to this instance yet' };
        },
        {
          ...this.waitOptions(`${volumeId} to attach to ${this.me.instanceId} at ${device}`, boundMs, pollSignal),
          // While the device itself is watched, EC2's word is only the fallback: plain backoff, fewer calls.
          ...(settled ? { precision: undefined } : {}),
        },
      );
    } catch (err) {
      // The device showed up first: the attachment is done, and this wait is simply no longer needed.
      if (settled?.aborted && !signal.aborted) return device;
      if (!(err instanceof WaitTimeoutError) && !(signal.aborted && err instanceof BerthError && err.code === 'timeout')) {
        this.allocator.release(volumeId);
        throw err;
      }
      const lastState = err instanceof WaitTimeoutError ? err.lastState : 'unknown (the wait was cancelled)';
      throw await this.abandonAttach(volumeId, device, `was stuck attaching (last state: ${lastState})`, err, true);
    }
  }

  /**
   * Detaches (naming this instance) an attachment berth stopped waiting for, so that a retry starts clean, and
   * returns the timeout error to throw. After a stuck attachment the device name is avoided for an hour: ghost
   * attachments hang on to it.
   */
  private async abandonAttach(volumeId: string, device: string, what: string, cause: unknown, stuck: boolean): Promise<BerthError> {
    if (stuck) this.allocator.markLikelyBad(device);
    this.allocator.release(volumeId);
    this.forgetInstanceDevices();
    let outcome = 'berth has asked EC2 to detach it so that a retry starts clean';
    try {
      await this.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: this.me.instanceId, Device: device }), {
        abortSignal: AbortSignal.timeout(this.config.callTimeoutMs),
      });
    } catch (err) {
      if (!hasErrorCode(err, ...ALREADY_DETACHED, 'InvalidVolume.NotFound')) {
        outcome = `detaching it again failed too (${mapEc2Error(err, 'DetachVolume').message}); detach it by hand before retrying`;
      }
    }
    this.logger.warn('abandoned an attach and detached the volume again', { volumeId, device, instanceId: this.me.instanceId, what });
    return new BerthError('timeout', `volume ${volumeId} ${what} on this instance (${this.me.instanceId}) at ${device}; ${outcome}`, { cause });
  }

  /** 'requested', or 'volume-gone' when the volume no longer exists. "Already detached" answers count as requested. */
  private async requestDetach(volumeId: string, instanceId: string, force: boolean, signal?: AbortSignal): Promise<'requested' | 'volume-gone'> {
    this.recent.delete(volumeId);
    try {
      await this.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, ...(force ? { Force: true } : {}) }), {
        abortSignal: signal,
      });
    } catch (err) {
      if (hasErrorCode(err, 'InvalidVolume.NotFound')) return 'volume-gone';
      if (!hasErrorCode(err, ...ALREADY_DETACHED)) throw mapEc2Error(err, `DetachVolume ${volumeId} from ${instanceId}`);
      this.logger.debug('volume already detached or detaching', { volumeId, instanceId, code: errorCodeOf(err) });
    }
    return 'requested';
  }

  private async waitDetached(volumeId: string, instanceId: string, signal: AbortSignal, force = false): Promise<void> {
    let lastRequest = Date.now();
    await waitFor<true>(
      async (): Promise<PollResult<true>> => {
        const volume = await this.describe(volumeId, signal);
        const attachment = volume && attachmentTo(volume, instanceId);
        if (!volume || isGone(volume) || !attachment) return { done: true, value: true };
        if (attachment.state === 'attached' && Date.now() - lastRequest >= DETACH_REPEAT_MS) {
          // An "IncorrectState" answer while it was still attaching, or a lost request: ask again.
          lastRequest = Date.now();
          if ((await this.requestDetach(volumeId, instanceId, force, signal)) === 'volume-gone') return { done: true, value: true };
        }
        return { done: false, state: `${attachment.state} at ${attachment.device}` };
      },
      this.waitOptions(`${volumeId} to detach from ${instanceId}`, this.config.statusTimeoutMs, signal),
    );
  }

  /** A freed name may linger in the cached device list for a moment: it is then skipped once, which is harmless. */
  private afterDetach(volumeId: string, instanceId: string): void {
    if (instanceId === this.me.instanceId) this.allocator.release(volumeId);
  }

  private waitOptions(what: string, timeoutMs: number, signal?: AbortSignal) {
    return {
      what,
      initialDelayMs: this.config.statusInitialDelayMs,
      maxAttempts: this.config.statusMaxAttempts,
      timeoutMs,
      signal,
      precision: POLL_PRECISION,
      precisionFloorMs: POLL_PRECISION_FLOOR_MS,
    };
  }
}

function describeFilters(filters: Filter[]): string {
  return filters.map((filter) => `${filter.Name}=${(filter.Values ?? []).join('|')}`).join(' ');
}

/** Reads this instance's identity from metadata, then builds the EC2 client. */
export async function connectCloud(config: CloudConfig, logger: Logger): Promise<EbsCloud> {
  const metadata = new MetadataClient({ endpoint: config.metadataEndpoint, timeoutMs: config.callTimeoutMs, logger });
  const found = await readInstanceIdentity(metadata);
  const region = config.region || found.region;
  if (region !== found.region) {
    logger.warn('the configured region differs from this instance\'s; volumes there cannot be attached here', {
      configured: region,
      instance: found.region,
    });
  }
  const { client, throttledCount } = buildEc2Client(config, region, logger);
  const identity = { ...found, region };
  logger.info('cloud ready', { ...identity, endpoint: config.endpoint || 'default', namespace: namespaceOf(config.tag) });
  return new EbsCloud({ ec2: client, identity, config, logger, throttledCount });
}
