/**
 * Moving a volume to another availability zone: snapshot it, wait for the snapshot, create the volume there from
 * it with the same name and options (one volume even when several hosts race), and retire the old one, never
 * deleting it. Snapshot and retire are also offered alone.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { BerthError } from '../common/errors';
import { waitFor } from '../common/poll';
import type { Logger } from '../log';
import { statusWait, type CloudConfig } from './context';
import { waitAvailable, untilAvailable } from './create';
import { createVolumeInput, moveToken, type VolumeToCreate } from './create-input';
import { hasErrorCode, mapEc2Error } from './errors';
import type { VolumeLookups } from './lookups';
import { TAGS, isGone, movedVolumeTags, nameFilters, namespaceOf, snapshotTagSpecifications } from './tags';
import type { CloudVolume } from './types';

/** Volume types whose IOPS CreateVolume accepts (EC2 reports IOPS for gp2 too), and the one taking a throughput. */
const PROVISIONED_IOPS_TYPES = ['io1', 'io2', 'gp3'];
const PROVISIONED_THROUGHPUT_TYPES = ['gp3'];

/** The CreateVolume of a moved volume: the old one's size, type, performance, encryption and tags, from the snapshot. */
export function movedVolume(volume: CloudVolume, availabilityZone: string, snapshotId: string, clientToken: string): VolumeToCreate {
  return {
    availabilityZone,
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    iops: PROVISIONED_IOPS_TYPES.includes(volume.volumeType) ? volume.iops : undefined,
    throughput: PROVISIONED_THROUGHPUT_TYPES.includes(volume.volumeType) ? volume.throughput : undefined,
    encrypted: volume.encrypted,
    kmsKeyId: volume.kmsKeyId,
    snapshotId,
    clientToken,
    tags: movedVolumeTags(volume),
  };
}

export interface ZoneMoverOptions {
  ec2: EC2Client;
  config: CloudConfig;
  logger: Logger;
  lookups: VolumeLookups;
}

export class ZoneMover {
  private readonly ec2: EC2Client;
  private readonly config: CloudConfig;
  private readonly logger: Logger;
  private readonly lookups: VolumeLookups;

  constructor(options: ZoneMoverOptions) {
    this.ec2 = options.ec2;
    this.config = options.config;
    this.logger = options.logger;
    this.lookups = options.lookups;
  }

  async moveToZone(volume: CloudVolume, availabilityZone: string, signal?: AbortSignal): Promise<CloudVolume> {
    const from = `${volume.volumeId} in ${volume.availabilityZone}`;
    const snapshotId = await this.snapshot(volume.volumeId, `berth: moving volume ${volume.name} from ${volume.availabilityZone} to ${availabilityZone}`, signal);
    this.logger.info('moving volume to another availability zone', { name: volume.name, from, to: availabilityZone, snapshotId });
    await this.waitSnapshotCompleted(snapshotId, signal);
    const token = moveToken(namespaceOf(this.config.tag), volume.name, volume.volumeId, availabilityZone);
    let moved: CloudVolume;
    try {
      const out = await this.ec2.send(new CreateVolumeCommand(createVolumeInput(movedVolume(volume, availabilityZone, snapshotId, token))), {
        abortSignal: signal,
      });
      moved = await waitAvailable(this.lookups, this.config, out.VolumeId ?? '', signal);
    } catch (err) {
      if (!hasErrorCode(err, 'IdempotentParameterMismatch')) throw err instanceof BerthError ? err : mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      // Another host is moving it too (from its own snapshot): use the volume it made.
      const theirs = (await this.lookups.query(nameFilters(this.config.tag, volume.name), signal)).find(
        (candidate) => candidate.availabilityZone === availabilityZone && candidate.tags[TAGS.movedFrom] === volume.volumeId && !isGone(candidate),
      );
      if (!theirs) throw mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      moved = await untilAvailable(this.lookups, this.config, theirs, signal);
    }
    await this.retire(volume.volumeId, 'moved', signal);
    this.logger.info('volume moved', { name: volume.name, from, to: `${moved.volumeId} in ${availabilityZone}`, snapshotId });
    return moved;
  }

  async snapshot(volumeId: string, description: string, signal?: AbortSignal): Promise<string> {
    const volume = await this.lookups.describe(volumeId, signal);
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

  /**
   * Takes the volume out of service without deleting it: `berth:retired` = `<reason> <name> <ISO time>` is added
   * first (a REX-Ray volume carrying any berth tag is no longer adopted), then berth:namespace and berth:name are
   * removed, so no lookup by name finds it again and its name can be used for a new volume.
   */
  async retire(volumeId: string, reason: 'retained' | 'moved', signal?: AbortSignal): Promise<void> {
    const volume = await this.lookups.describe(volumeId, signal);
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
      statusWait(this.config, `snapshot ${snapshotId} to complete`, this.config.statusTimeoutMs, signal),
    );
  }
}
