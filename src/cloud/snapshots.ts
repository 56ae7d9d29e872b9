/**
 * Snapshots berth makes (of a volume, for a user or for a zone move), tagged with the namespace and the volume's
 * name so that berth lists and removes only its own.
 */
import { CreateSnapshotCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand, type Filter, type Snapshot } from '@aws-sdk/client-ec2';
import { BerthError } from '../common/errors';
import { ec2Call, hasErrorCode, mapEc2Error } from './errors';
import type { CloudParts } from './parts';
import { TAGS, namespaceOf, snapshotTagSpecifications, tagMap } from './tags';
import type { CloudSnapshot } from './types';

function parseProgress(progress: string | undefined, state: string): number {
  const percent = Number.parseInt(progress ?? '', 10);
  if (Number.isFinite(percent)) return Math.max(0, Math.min(100, percent));
  return state === 'completed' ? 100 : 0;
}

function toCloudSnapshot(snapshot: Snapshot): CloudSnapshot {
  const tags = tagMap(snapshot.Tags);
  const state = snapshot.State ?? 'pending';
  return {
    snapshotId: snapshot.SnapshotId ?? '',
    volumeId: snapshot.VolumeId ?? '',
    volumeName: tags[TAGS.volumeName] ?? '',
    namespace: tags[TAGS.namespace] ?? '',
    state,
    progress: parseProgress(snapshot.Progress, state),
    sizeGiB: snapshot.VolumeSize ?? 0,
    startTime: snapshot.StartTime ?? new Date(0),
    ...(snapshot.StateMessage && { stateMessage: snapshot.StateMessage }),
    tags,
  };
}

export class VolumeSnapshots {
  constructor(private readonly parts: CloudParts) {}

  /** Starts a snapshot of the volume named `name` in this namespace (does not wait for it). */
  async create(volumeId: string, name: string, description: string, extraTags: Record<string, string> = {}, signal?: AbortSignal): Promise<string> {
    const out = await ec2Call(`CreateSnapshot ${volumeId}`, () =>
      this.parts.ec2.send(
        new CreateSnapshotCommand({ VolumeId: volumeId, Description: description, TagSpecifications: snapshotTagSpecifications(name, this.parts.config.tag, volumeId, extraTags) }),
        { abortSignal: signal },
      ),
    );
    return out.SnapshotId ?? '';
  }

  async describe(snapshotId: string, signal?: AbortSignal): Promise<CloudSnapshot | undefined> {
    try {
      const out = await this.parts.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: signal });
      const found = out.Snapshots?.find((snapshot) => snapshot.SnapshotId === snapshotId);
      return found ? toCloudSnapshot(found) : undefined;
    } catch (err) {
      if (hasErrorCode(err, 'InvalidSnapshot.NotFound')) return undefined;
      throw mapEc2Error(err, `DescribeSnapshots ${snapshotId}`);
    }
  }

  /** This namespace's snapshots (of one volume name, when given), newest first. */
  async list(volumeName?: string, signal?: AbortSignal): Promise<CloudSnapshot[]> {
    const filters: Filter[] = [{ Name: `tag:${TAGS.namespace}`, Values: [namespaceOf(this.parts.config.tag)] }];
    if (volumeName !== undefined) filters.push({ Name: `tag:${TAGS.volumeName}`, Values: [volumeName] });
    const found: CloudSnapshot[] = [];
    let nextToken: string | undefined;
    do {
      const out = await ec2Call('DescribeSnapshots', () =>
        this.parts.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken: nextToken, MaxResults: 1000 }), {
          abortSignal: signal,
        }),
      );
      found.push(...(out.Snapshots ?? []).map(toCloudSnapshot));
      nextToken = out.NextToken;
    } while (nextToken);
    return found.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  }

  /** Deletes a snapshot berth made in this namespace; refuses any other. */
  async delete(snapshotId: string, signal?: AbortSignal): Promise<void> {
    const snapshot = await this.describe(snapshotId, signal);
    if (!snapshot) throw new BerthError('not-found', `snapshot ${snapshotId} not found`);
    const namespace = namespaceOf(this.parts.config.tag);
    if (snapshot.namespace !== namespace) {
      throw new BerthError(
        'in-use',
        `snapshot ${snapshotId} was not made by berth in namespace "${namespace}" (its ${TAGS.namespace} tag is ${snapshot.namespace ? `"${snapshot.namespace}"` : 'absent'}): berth removes only its own snapshots`,
      );
    }
    await ec2Call(`DeleteSnapshot ${snapshotId}`, () => this.parts.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }), { abortSignal: signal }));
  }
}
