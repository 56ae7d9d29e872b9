/**
 * The admin route POST /_berth/volumes: many volumes made at once, for benchmarks that need thousands. Each is
 * what CreateVolume makes (same defaults, same tag rules, a sparse file and no loop device until attached), born
 * `available`, without a ClientToken, and the state is saved once per request instead of twice per volume: at
 * 10,000 volumes every CreateVolume rewrites and fsyncs a state file of several MB, twice.
 */
import type { Ctx } from './actions/context';
import { nowIso } from './actions/context';
import { tagsFromSpecifications } from './actions/tags';
import { createSparseFile, volumeFile } from './devices';
import { invalidParameterValue } from './ec2-error';
import { isZoneName, newVolumeId } from './ids';
import type { VolumeRecord } from './state';
import { DEFAULT_VOLUME_TYPE, resolveVolumeSpec } from './volume-types';

export interface BulkVolumeSpec {
  availabilityZone: string;
  sizeGiB: number;
  volumeType?: string;
  tags?: Record<string, string>;
}

/** What the route accepts; a malformed body is refused before any volume is made. */
export function parseBulkVolumes(body: unknown): BulkVolumeSpec[] {
  const volumes = (body as { volumes?: unknown } | null)?.volumes;
  if (!Array.isArray(volumes) || volumes.length === 0) throw new TypeError('expected {"volumes": [{"availabilityZone", "sizeGiB", "volumeType", "tags"}, ...]}');
  return volumes.map((entry: unknown, index) => {
    const spec = entry as Partial<BulkVolumeSpec> | null;
    if (typeof spec?.availabilityZone !== 'string' || !isZoneName(spec.availabilityZone)) throw new TypeError(`volumes[${index}].availabilityZone: not a zone name`);
    if (!Number.isInteger(spec.sizeGiB)) throw new TypeError(`volumes[${index}].sizeGiB: not a whole number`);
    if (spec.volumeType !== undefined && typeof spec.volumeType !== 'string') throw new TypeError(`volumes[${index}].volumeType: not a string`);
    const tags = spec.tags ?? {};
    if (typeof tags !== 'object' || Object.values(tags).some((value) => typeof value !== 'string')) throw new TypeError(`volumes[${index}].tags: not an object of strings`);
    return { availabilityZone: spec.availabilityZone, sizeGiB: spec.sizeGiB!, volumeType: spec.volumeType, tags };
  });
}

/** Makes the volumes (the caller holds the simulator's lock); returns their ids in the order asked. */
export async function createBulkVolumes(ctx: Ctx, specs: BulkVolumeSpec[]): Promise<string[]> {
  const records = specs.map((spec): VolumeRecord => {
    const resolved = resolveVolumeSpec({ volumeType: spec.volumeType ?? DEFAULT_VOLUME_TYPE, sizeGiB: spec.sizeGiB });
    const tagInputs = Object.entries(spec.tags ?? {}).map(([key, value]) => ({ key, value }));
    return {
      id: newVolumeId(),
      sizeGiB: resolved.sizeGiB,
      volumeType: resolved.volumeType,
      iops: resolved.iops,
      throughput: resolved.throughput,
      encrypted: false,
      availabilityZone: spec.availabilityZone,
      lifecycle: 'available',
      createTime: nowIso(),
      tags: tagsFromSpecifications([{ resourceType: 'volume', tags: tagInputs }], 'volume'),
    };
  });
  const made: VolumeRecord[] = [];
  try {
    for (const record of records) {
      await createSparseFile(volumeFile(ctx.dataDir, record.id), record.sizeGiB);
      ctx.state.volumes[record.id] = record;
      made.push(record);
    }
  } catch (err) {
    throw invalidParameterValue(`backing file for volume ${made.length + 1} of ${records.length}: ${String(err)}`);
  } finally {
    if (made.length > 0) ctx.commit();
  }
  ctx.log.info('volumes made in bulk', { count: made.length });
  return made.map((record) => record.id);
}
