/**
 * The Cloud interface over EC2 for this instance, composed of its parts: lookups.ts finds volumes, create.ts
 * creates (and deletes) them, attach.ts attaches and detaches them, zone-move.ts snapshots, moves and retires them.
 * Tag conventions live in tags.ts, device names in devices.ts, polling in ../common/poll.ts, error mapping in errors.ts.
 * daemon.ts loads this module only once its socket listens: connectCloud is its entry point.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { TransitionPace } from '../common/transition-pace';
import type { Logger } from '../log';
import type { CloudParts } from './parts';
import { VolumeAttacher } from './attach';
import { NO_TELEMETRY, type Telemetry } from '../common/telemetry';
import { buildEc2Client } from './client';
import { transitionPace, type CloudConfig } from './context';
import { VolumeCreator } from './create';
import { listingThreadFor, type ListingThread } from './listing-thread';
import { VolumeLookups } from './lookups';
import { MetadataClient, readInstanceIdentity } from './metadata';
import { namespaceOf } from './tags';
import { describeInstance } from './instances';
import { VolumeModifier } from './modify';
import { VolumeSnapshots } from './snapshots';
import type {
  AttachOptions,
  Cloud,
  CloudSnapshot,
  CloudVolume,
  CreateVolumeSpec,
  DetachOptions,
  InstanceIdentity,
  InstanceState,
  KeepVolume,
  LookupOptions,
  VolumeChange,
  VolumeModification,
} from './types';
import { ZoneMover } from './zone-move';
import { RegionZones } from './zones';

export interface EbsCloudOptions {
  ec2: EC2Client;
  identity: InstanceIdentity;
  config: CloudConfig;
  logger: Logger;
  /** From buildEc2Client; a client built elsewhere reports 0. */
  throttledCount?: () => number;
  /** How long describe() collects ids before one DescribeVolumes call. */
  batchWindowMs?: number;
  /** Where large namespace listings are made; without it, on the main thread. */
  listingThread?: ListingThread;
}

export class EbsCloud implements Cloud {
  private readonly me: InstanceIdentity;
  private readonly throttled: () => number;
  private readonly lookups: VolumeLookups;
  private readonly creator: VolumeCreator;
  private readonly attacher: VolumeAttacher;
  private readonly mover: ZoneMover;
  private readonly zones: RegionZones;
  private readonly pace: TransitionPace;
  private readonly modifier: VolumeModifier;
  private readonly snapshots: VolumeSnapshots;
  private readonly context: CloudParts;
  /** Attachers of the other instances cluster volumes were published to: each keeps its instance's device names. */
  private readonly otherAttachers = new Map<string, VolumeAttacher>();

  constructor(options: EbsCloudOptions) {
    const { ec2, identity, config, logger } = options;
    this.me = identity;
    const throttled = options.throttledCount ?? (() => 0);
    const thread = options.listingThread;
    this.throttled = thread ? () => throttled() + thread.throttledCount() : throttled;
    this.lookups = new VolumeLookups({ ec2, config, logger, batchWindowMs: options.batchWindowMs, listingThread: thread });
    this.pace = transitionPace(config);
    const parts = { ec2, identity, config, logger, lookups: this.lookups, pace: this.pace };
    this.creator = new VolumeCreator(parts);
    this.attacher = new VolumeAttacher(parts);
    this.mover = new ZoneMover(parts);
    this.zones = new RegionZones(parts);
    this.modifier = new VolumeModifier(parts);
    this.snapshots = new VolumeSnapshots(parts);
    this.context = parts;
  }

  identity(): InstanceIdentity {
    return { ...this.me };
  }

  usualDetachMs(): number | undefined {
    return this.pace.expectedMs('detach');
  }

  throttledCount(): number {
    return this.throttled();
  }

  availabilityZones(signal?: AbortSignal): Promise<string[]> {
    return this.zones.list(signal);
  }

  findByName(name: string, signal?: AbortSignal, options?: LookupOptions): Promise<CloudVolume | undefined> {
    return this.lookups.findByName(name, signal, options);
  }

  listVolumes(signal?: AbortSignal, keep?: KeepVolume): Promise<CloudVolume[]> {
    return this.lookups.listVolumes(signal, keep);
  }

  describe(volumeId: string, signal?: AbortSignal, options?: LookupOptions): Promise<CloudVolume | undefined> {
    return this.lookups.describe(volumeId, signal, options);
  }

  create(spec: CreateVolumeSpec, signal?: AbortSignal): Promise<CloudVolume> {
    return this.creator.create(spec, signal);
  }

  delete(volumeId: string, signal?: AbortSignal): Promise<void> {
    return this.creator.delete(volumeId, signal);
  }

  markFormatted(volumeId: string, signal?: AbortSignal): Promise<void> {
    return this.creator.markFormatted(volumeId, signal);
  }

  attach(volumeId: string, signal: AbortSignal, options?: AttachOptions): Promise<string> {
    return this.attacher.attach(volumeId, signal, options);
  }

  detach(volumeId: string, options: DetachOptions, signal: AbortSignal): Promise<void> {
    return this.attacher.detach(volumeId, options, signal);
  }

  snapshot(volumeId: string, description: string, signal?: AbortSignal): Promise<string> {
    return this.mover.snapshot(volumeId, description, signal);
  }

  retire(volumeId: string, reason: 'retained' | 'moved', signal?: AbortSignal): Promise<void> {
    return this.mover.retire(volumeId, reason, signal);
  }

  modifyVolume(volumeId: string, change: VolumeChange, signal?: AbortSignal): Promise<VolumeModification> {
    return this.modifier.modify(volumeId, change, signal);
  }

  latestModification(volumeId: string, signal?: AbortSignal): Promise<VolumeModification | undefined> {
    return this.modifier.latest(volumeId, signal);
  }

  createSnapshot(volumeId: string, name: string, description: string, tags: Record<string, string>, signal?: AbortSignal): Promise<string> {
    return this.snapshots.create(volumeId, name, description, tags, signal);
  }

  describeSnapshot(snapshotId: string, signal?: AbortSignal): Promise<CloudSnapshot | undefined> {
    return this.snapshots.describe(snapshotId, signal);
  }

  listSnapshots(volumeName?: string, signal?: AbortSignal): Promise<CloudSnapshot[]> {
    return this.snapshots.list(volumeName, signal);
  }

  deleteSnapshot(snapshotId: string, signal?: AbortSignal): Promise<void> {
    return this.snapshots.delete(snapshotId, signal);
  }

  describeInstance(instanceId: string, signal?: AbortSignal): Promise<InstanceState> {
    return describeInstance(this.context, instanceId, signal);
  }

  attachTo(volumeId: string, instanceId: string, signal: AbortSignal): Promise<string> {
    if (instanceId === this.me.instanceId) return this.attach(volumeId, signal);
    let attacher = this.otherAttachers.get(instanceId);
    if (!attacher) {
      attacher = new VolumeAttacher({ ...this.context, identity: { ...this.me, instanceId } });
      this.otherAttachers.set(instanceId, attacher);
    }
    return attacher.attach(volumeId, signal);
  }

  moveToZone(volume: CloudVolume, availabilityZone: string, signal?: AbortSignal): Promise<CloudVolume> {
    return this.mover.moveToZone(volume, availabilityZone, signal);
  }
}

/** Reads this instance's identity from metadata, then builds the EC2 client. */
export async function connectCloud(config: CloudConfig, logger: Logger, telemetry?: Telemetry): Promise<EbsCloud> {
  const metadata = new MetadataClient({ endpoint: config.metadataEndpoint, timeoutMs: config.callTimeoutMs, logger });
  const found = await readInstanceIdentity(metadata);
  const region = config.region || found.region;
  if (region !== found.region) {
    logger.warn('the configured region differs from this instance\'s; volumes there cannot be attached here', {
      configured: region,
      instance: found.region,
    });
  }
  const { client, throttledCount } = buildEc2Client(config, region, logger, telemetry);
  const listingThread = listingThreadFor({ config, region, logger, telemetry: telemetry ?? NO_TELEMETRY });
  const identity = { ...found, region };
  logger.info('cloud ready', { ...identity, endpoint: config.endpoint || 'default', namespace: namespaceOf(config.tag) });
  return new EbsCloud({ ec2: client, identity, config, logger, throttledCount, listingThread });
}
