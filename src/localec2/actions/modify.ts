/**
 * ModifyVolume and DescribeVolumesModifications. A modification goes modifying (the "modify" delay) ->
 * optimizing (OPTIMIZING_DELAYS times that) -> completed, its Progress rising with the time (progress.ts); the new
 * size is usable from "optimizing" on, as on EC2: the backing file grows then, and an attached loop device is
 * refreshed so the instance sees the larger disk. Repeated modifications are limited as on EC2
 * (modification-limits.ts).
 */
import { Ec2Error, dryRunSucceeded, incorrectState, invalidParameterCombination, invalidParameterValue } from '../ec2-error';
import { growFile, refreshLoop, volumeFile } from '../devices';
import { applyFilters, checkMaxResults, paginate } from '../filters';
import { checkVolumeId, regionOfZone } from '../ids';
import { OPTIMIZING_DELAYS, modificationProgress } from '../progress';
import { modificationXml } from '../render';
import type { ModificationRecord, VolumeRecord } from '../state';
import { checkVolumeType, resolveVolumeSpec } from '../volume-types';
import { type Action, type Ctx, nowIso } from './context';
import { findVolume } from './lookups';
import { checkModificationAllowed, recordModificationStart } from './modification-limits';

function optimizingDelay(ctx: Ctx): number {
  return ctx.delays.modify * OPTIMIZING_DELAYS;
}

function renderModification(ctx: Ctx, modification: ModificationRecord) {
  return modificationXml(modification, modificationProgress(modification, ctx.delays.modify));
}

/** Provisioned IOPS carry over to a type that takes them; gp2's reported baseline is not provisioned. */
function carriedIops(volume: VolumeRecord, targetType: string): number | undefined {
  if (volume.volumeType === 'gp2' || !checkVolumeType(targetType).iops) return undefined;
  return volume.iops;
}

async function finishModification(ctx: Ctx, volumeId: string, startTime: string): Promise<void> {
  const modification = ctx.state.modifications[volumeId];
  if (modification?.state !== 'optimizing' || modification.startTime !== startTime) return;
  modification.state = 'completed';
  modification.progress = 100;
  modification.endTime = nowIso();
  ctx.commit();
}

async function startOptimizing(ctx: Ctx, volumeId: string, startTime: string): Promise<void> {
  const modification = ctx.state.modifications[volumeId];
  const volume = ctx.state.volumes[volumeId];
  if (modification?.state !== 'modifying' || modification.startTime !== startTime) return;
  if (!volume) {
    modification.state = 'failed';
    ctx.commit();
    return;
  }
  if (!volume.rootOf && modification.targetSize > volume.sizeGiB) {
    await growFile(volumeFile(ctx.dataDir, volumeId), modification.targetSize);
    if (volume.attachment?.loopDevice) await refreshLoop(volume.attachment.loopDevice);
  }
  volume.sizeGiB = modification.targetSize;
  volume.volumeType = modification.targetVolumeType;
  volume.iops = modification.targetIops;
  volume.throughput = modification.targetThroughput;
  modification.state = 'optimizing';
  modification.progress = modificationProgress(modification, ctx.delays.modify);
  ctx.commit();
  ctx.log.info('volume modified', { volumeId, sizeGiB: volume.sizeGiB, volumeType: volume.volumeType });
  await ctx.scheduler.schedule(optimizingDelay(ctx), `optimize ${volumeId}`, () => finishModification(ctx, volumeId, startTime));
}

export const modifyVolume: Action = {
  params: ['VolumeId', 'Size', 'VolumeType', 'Iops', 'Throughput', 'MultiAttachEnabled'],
  async handle(ctx, { params, region, dryRun }) {
    const volume = findVolume(ctx.state, region, params.require('VolumeId'));
    if (volume.lifecycle !== 'available') throw incorrectState(`Volume ${volume.id} is in the '${volume.lifecycle}' state and cannot be modified.`);
    checkModificationAllowed(volume, ctx.state.modifications[volume.id]);
    if (params.bool('MultiAttachEnabled')) throw invalidParameterValue('local-ec2 does not simulate Multi-Attach: MultiAttachEnabled must be false.');
    const targetType = params.get('VolumeType') ?? volume.volumeType;
    const targetSize = params.int('Size', 'size') ?? volume.sizeGiB;
    if (targetSize < volume.sizeGiB) {
      throw invalidParameterValue(`New size (${targetSize}GiB) cannot be smaller than the existing size (${volume.sizeGiB}GiB) (parameter size).`);
    }
    const target = resolveVolumeSpec({
      volumeType: targetType,
      sizeGiB: targetSize,
      iops: params.int('Iops', 'iops') ?? carriedIops(volume, targetType),
      throughput: params.int('Throughput', 'throughput') ?? (targetType === 'gp3' && volume.volumeType === 'gp3' ? volume.throughput : undefined),
    });
    const unchanged =
      target.sizeGiB === volume.sizeGiB &&
      target.volumeType === volume.volumeType &&
      target.iops === volume.iops &&
      target.throughput === volume.throughput;
    if (unchanged) {
      throw invalidParameterCombination(`Volume ${volume.id}: the new size, type, IOPS and throughput are the same as the current ones; at least one must change.`);
    }
    if (dryRun) throw dryRunSucceeded();
    const modification: ModificationRecord = {
      volumeId: volume.id,
      state: 'modifying',
      originalSize: volume.sizeGiB,
      originalVolumeType: volume.volumeType,
      originalIops: volume.iops,
      originalThroughput: volume.throughput,
      targetSize: target.sizeGiB,
      targetVolumeType: target.volumeType,
      targetIops: target.iops,
      targetThroughput: target.throughput,
      progress: 0,
      startTime: nowIso(),
    };
    ctx.state.modifications[volume.id] = modification;
    recordModificationStart(volume, modification.startTime);
    ctx.commit();
    const response = renderModification(ctx, modification);
    await ctx.scheduler.schedule(ctx.delays.modify, `modify ${volume.id}`, () => startOptimizing(ctx, volume.id, modification.startTime));
    return { volumeModification: response };
  },
};

const MODIFICATION_FILTERS = ['volume-id', 'modification-state', 'target-size', 'target-volume-type', 'original-size', 'original-volume-type', 'start-time'];

function modificationFilterField(modification: ModificationRecord, name: string): string[] | undefined {
  switch (name) {
    case 'volume-id':
      return [modification.volumeId];
    case 'modification-state':
      return [modification.state];
    case 'target-size':
      return [String(modification.targetSize)];
    case 'target-volume-type':
      return [modification.targetVolumeType];
    case 'original-size':
      return [String(modification.originalSize)];
    case 'original-volume-type':
      return [modification.originalVolumeType];
    case 'start-time':
      return [modification.startTime];
    default:
      return undefined;
  }
}

export const describeVolumesModifications: Action = {
  params: ['VolumeId', 'Filter', 'NextToken', 'MaxResults', 'IncludeManagedResources'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('VolumeId').map(checkVolumeId);
    const maxResults = params.int('MaxResults', 'maxResults');
    checkMaxResults(maxResults, 5);
    for (const id of ids) {
      findVolume(ctx.state, region, id);
      if (!ctx.state.modifications[id]) {
        throw new Ec2Error('InvalidVolumeModification.NotFound', `Modification for volume '${id}' does not exist.`);
      }
    }
    const modifications = Object.values(ctx.state.modifications).filter((modification) => {
      const volume = ctx.state.volumes[modification.volumeId];
      if (!volume) return false;
      if (ids.length > 0 && !ids.includes(modification.volumeId)) return false;
      return regionOfZone(volume.availabilityZone) === region;
    });
    const filtered = applyFilters(modifications, params.filters(), modificationFilterField, MODIFICATION_FILTERS);
    const page = paginate(filtered, (modification) => modification.volumeId, maxResults, params.get('NextToken'), 500);
    if (dryRun) throw dryRunSucceeded();
    return { volumeModificationSet: page.items.map((modification) => renderModification(ctx, modification)), nextToken: page.nextToken };
  },
};

export async function resumeModifications(ctx: Ctx): Promise<void> {
  for (const modification of Object.values(ctx.state.modifications)) {
    const { volumeId, startTime } = modification;
    if (modification.state === 'modifying') {
      await ctx.scheduler.schedule(ctx.delays.modify, `modify ${volumeId}`, () => startOptimizing(ctx, volumeId, startTime));
    } else if (modification.state === 'optimizing') {
      await ctx.scheduler.schedule(optimizingDelay(ctx), `optimize ${volumeId}`, () => finishModification(ctx, volumeId, startTime));
    }
  }
}
