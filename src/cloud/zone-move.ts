/**
 * Moving a volume to another availability zone: snapshot it, wait for the snapshot, create the volume there from
 * it with the same name and options (one volume even when several hosts race), and retire the old one, never
 * deleting it. Snapshot and retire are also offered alone.
 */
import {
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DescribeSnapshotsCommand,
} from '@aws-sdk/client-ec2';
import { BerthError } from '../common/errors';
import { statusWait } from './context';
import { waitAvailable, untilAvailable } from './create';
import { createVolumeInput, moveToken, type VolumeToCreate } from './create-input';
import { ec2Call, hasErrorCode, mapEc2Error } from './errors';
import type { CloudParts } from './parts';
import { TAGS, isGone, movedVolumeTags, nameFilters, namespaceOf } from './tags';
import { VolumeSnapshots } from './snapshots';
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

export class ZoneMover {
  private readonly snapshots: VolumeSnapshots;

  constructor(private readonly parts: CloudParts) {
    this.snapshots = new VolumeSnapshots(parts);
  }

  async moveToZone(volume: CloudVolume, availabilityZone: string, signal?: AbortSignal): Promise<CloudVolume> {
    const from = `${volume.volumeId} in ${volume.availabilityZone}`;
    const snapshotRequestedAt = Date.now();
    const snapshotId = await this.snapshot(volume.volumeId, `berth: moving volume ${volume.name} from ${volume.availabilityZone} to ${availabilityZone}`, signal);
    this.parts.logger.info('moving volume to another availability zone', { name: volume.name, from, to: availabilityZone, snapshotId });
    await this.waitSnapshotCompleted(snapshotId, snapshotRequestedAt, signal);
    const token = moveToken(namespaceOf(this.parts.config.tag), volume.name, volume.volumeId, availabilityZone);
    let moved: CloudVolume;
    try {
      const createRequestedAt = Date.now();
      const out = await this.parts.ec2.send(new CreateVolumeCommand(createVolumeInput(movedVolume(volume, availabilityZone, snapshotId, token))), {
        abortSignal: signal,
      });
      moved = await waitAvailable(this.parts, out.VolumeId ?? '', signal, createRequestedAt);
    } catch (err) {
      if (!hasErrorCode(err, 'IdempotentParameterMismatch')) throw err instanceof BerthError ? err : mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      // Another host is moving it too (from its own snapshot): use the volume it made.
      const theirs = (await this.parts.lookups.query(nameFilters(this.parts.config.tag, volume.name), signal)).find(
        (candidate) => candidate.availabilityZone === availabilityZone && candidate.tags[TAGS.movedFrom] === volume.volumeId && !isGone(candidate),
      );
      if (!theirs) throw mapEc2Error(err, `CreateVolume ${volume.name} in ${availabilityZone}`);
      moved = await untilAvailable(this.parts, theirs, signal);
    }
    await this.retire(volume.volumeId, 'moved', signal);
    this.parts.logger.info('volume moved', { name: volume.name, from, to: `${moved.volumeId} in ${availabilityZone}`, snapshotId });
    return moved;
  }

  async snapshot(volumeId: string, description: string, signal?: AbortSignal): Promise<string> {
    const volume = await this.parts.lookups.describe(volumeId, signal);
    if (!volume) throw new BerthError('not-found', `cannot snapshot ${volumeId}: no such volume`);
    return this.snapshots.create(volumeId, volume.name, description, {}, signal);
  }

  /**
   * Takes the volume out of service without deleting it: `berth:retired` = `<reason> <name> <ISO time>` is added
   * first (a REX-Ray volume carrying any berth tag is no longer adopted), then berth:namespace and berth:name are
   * removed, so no lookup by name finds it again and its name can be used for a new volume.
   */
  async retire(volumeId: string, reason: 'retained' | 'moved', signal?: AbortSignal): Promise<void> {
    const volume = await this.parts.lookups.describe(volumeId, signal);
    if (!volume) throw new BerthError('not-found', `cannot retire ${volumeId}: no such volume`);
    const marker = `${reason} ${volume.name} ${new Date().toISOString()}`;
    this.parts.lookups.forgetRecent(volumeId);
    await ec2Call(`retiring ${volumeId} (${volume.name})`, async () => {
      await this.parts.ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.retired, Value: marker }] }), { abortSignal: signal });
      await this.parts.ec2.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.namespace }, { Key: TAGS.volumeName }] }), { abortSignal: signal });
    });
  }

  private waitSnapshotCompleted(snapshotId: string, requestedAt: number, signal?: AbortSignal): Promise<true> {
    return this.parts.pace.wait<true>(
      'snapshot',
      requestedAt,
      async () => {
        const out = await ec2Call(`DescribeSnapshots ${snapshotId}`, () =>
          this.parts.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: signal }),
        );
        const state = out.Snapshots?.[0]?.State;
        if (state === 'error') throw new BerthError('cloud', `snapshot ${snapshotId} failed`);
        return state === 'completed' ? { done: true, value: true } : { done: false, state: state ?? 'not visible yet' };
      },
      statusWait(this.parts.config, `snapshot ${snapshotId} to complete`, this.parts.config.statusTimeoutMs, signal),
    );
  }
}
