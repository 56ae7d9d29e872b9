/**
 * CreateSnapshot, DescribeSnapshots, DeleteSnapshot. A snapshot is a sparse copy of the volume's file taken
 * when the call arrives (point in time); it is "pending" for the snapshot delay, its Progress rising with the time
 * (progress.ts), then "completed". A volume made from a snapshot copies it when CreateVolume arrives, so deleting the
 * snapshot while that volume is still creating harms nothing; EC2's DeleteSnapshot refuses only a snapshot of a
 * registered AMI's root device, and there are no AMIs here.
 */
import { dryRunSucceeded, incorrectState, invalidParameterCombination, invalidParameterValue } from '../ec2-error';
import { copySparse, createSparseFile, removeFile, snapshotFile, volumeFile } from '../devices';
import { applyFilters, checkMaxResults, paginate, tagFilterValues } from '../filters';
import { checkSnapshotId, newSnapshotId } from '../ids';
import { snapshotProgress } from '../progress';
import { snapshotXml } from '../render';
import type { SnapshotRecord } from '../state';
import { type Action, type Ctx, nowIso } from './context';
import { findSnapshot, findVolume, snapshotsInRegion } from './lookups';
import { tagsFromSpecifications } from './tags';

function renderSnapshot(ctx: Ctx, snapshot: SnapshotRecord) {
  return snapshotXml(snapshot, ctx.accountId, snapshotProgress(snapshot, ctx.delays.snapshot));
}

async function completeSnapshot(ctx: Ctx, snapshotId: string): Promise<void> {
  const snapshot = ctx.state.snapshots[snapshotId];
  if (snapshot?.state !== 'pending') return;
  snapshot.state = 'completed';
  snapshot.completionTime = nowIso();
  ctx.commit();
  ctx.log.info('snapshot completed', { snapshotId, volumeId: snapshot.volumeId });
}

export const createSnapshot: Action = {
  params: ['VolumeId', 'Description', 'TagSpecification', 'OutpostArn', 'Location'],
  async handle(ctx, { params, region, dryRun }) {
    const volume = findVolume(ctx.state, region, params.require('VolumeId'));
    if (volume.lifecycle !== 'available') throw incorrectState(`Volume '${volume.id}' is in the '${volume.lifecycle}' state.`);
    const description = params.get('Description') ?? '';
    if (description.length > 255) throw invalidParameterValue('Value for parameter Description is invalid: at most 255 characters.');
    const tags = tagsFromSpecifications(params.tagSpecifications(), 'snapshot');
    if (dryRun) throw dryRunSucceeded();
    const snapshot: SnapshotRecord = {
      id: newSnapshotId(),
      volumeId: volume.id,
      volumeSizeGiB: volume.sizeGiB,
      description,
      state: 'pending',
      region,
      startTime: nowIso(),
      encrypted: volume.encrypted,
      kmsKeyId: volume.kmsKeyId,
      tags,
    };
    const response = renderSnapshot(ctx, snapshot);
    const target = snapshotFile(ctx.dataDir, snapshot.id);
    try {
      if (volume.rootOf) await createSparseFile(target, volume.sizeGiB);
      else await copySparse(volumeFile(ctx.dataDir, volume.id), target);
    } catch (err) {
      snapshot.state = 'error';
      ctx.log.error('snapshot copy failed: the snapshot is in state error', { snapshotId: snapshot.id, error: String(err) });
    }
    ctx.state.snapshots[snapshot.id] = snapshot;
    ctx.commit();
    await ctx.scheduler.schedule(ctx.delays.snapshot, `snapshot ${snapshot.id}`, () => completeSnapshot(ctx, snapshot.id));
    return response;
  },
};

const SNAPSHOT_FILTERS = ['description', 'encrypted', 'owner-id', 'progress', 'snapshot-id', 'start-time', 'status', 'storage-tier', 'volume-id', 'volume-size'];

function snapshotFilterField(ctx: Ctx) {
  return (snapshot: SnapshotRecord, name: string): string[] | undefined => {
    switch (name) {
      case 'description':
        return [snapshot.description];
      case 'encrypted':
        return [String(snapshot.encrypted)];
      case 'owner-id':
        return [ctx.accountId];
      case 'progress':
        return [snapshotProgress(snapshot, ctx.delays.snapshot)];
      case 'snapshot-id':
        return [snapshot.id];
      case 'start-time':
        return [snapshot.startTime];
      case 'status':
        return [snapshot.state];
      case 'storage-tier':
        return ['standard'];
      case 'volume-id':
        return [snapshot.volumeId];
      case 'volume-size':
        return [String(snapshot.volumeSizeGiB)];
      default:
        return tagFilterValues(snapshot.tags, name);
    }
  };
}

export const describeSnapshots: Action = {
  params: ['SnapshotId', 'Owner', 'RestorableBy', 'Filter', 'MaxResults', 'NextToken'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('SnapshotId').map(checkSnapshotId);
    const maxResults = params.int('MaxResults', 'maxResults');
    if (ids.length > 0 && maxResults !== undefined) {
      throw invalidParameterCombination('The parameter snapshotSet cannot be used with the parameter maxResults');
    }
    checkMaxResults(maxResults, 5);
    const owners = params.list('Owner');
    let snapshots = snapshotsInRegion(ctx.state, region);
    if (owners.length > 0 && !owners.some((owner) => owner === 'self' || owner === ctx.accountId)) snapshots = [];
    for (const id of ids) findSnapshot(ctx.state, region, id);
    if (ids.length > 0) snapshots = snapshots.filter((snapshot) => ids.includes(snapshot.id));
    const filtered = applyFilters(snapshots, params.filters(), snapshotFilterField(ctx), SNAPSHOT_FILTERS);
    const page = paginate(filtered, (snapshot) => snapshot.id, maxResults, params.get('NextToken'), 1000);
    if (dryRun) throw dryRunSucceeded();
    return { snapshotSet: page.items.map((snapshot) => renderSnapshot(ctx, snapshot)), nextToken: page.nextToken };
  },
};

export const deleteSnapshot: Action = {
  params: ['SnapshotId'],
  async handle(ctx, { params, region, dryRun }) {
    const snapshot = findSnapshot(ctx.state, region, params.require('SnapshotId'));
    if (dryRun) throw dryRunSucceeded();
    await removeFile(snapshotFile(ctx.dataDir, snapshot.id));
    delete ctx.state.snapshots[snapshot.id];
    ctx.commit();
    return { return: true };
  },
};

export async function resumeSnapshots(ctx: Ctx): Promise<void> {
  for (const snapshot of Object.values(ctx.state.snapshots)) {
    if (snapshot.state === 'pending') {
      await ctx.scheduler.schedule(ctx.delays.snapshot, `snapshot ${snapshot.id}`, () => completeSnapshot(ctx, snapshot.id));
    }
  }
}
