/** CreateVolume, DescribeVolumes, DeleteVolume and their transitions (creating -> available, deleting -> gone). */
import {
  Ec2Error,
  dryRunSucceeded,
  incorrectState,
  invalidParameterCombination,
  invalidParameterValue,
  missingParameter,
} from '../ec2-error';
import { createSparseFile, copySparse, growFile, removeFile, snapshotFile, volumeFile } from '../devices';
import { applyFilters, checkMaxResults, paginate, tagFilterValues } from '../filters';
import { checkVolumeId, isZoneName, newVolumeId, regionOfZone, zoneIdOf } from '../ids';
import { volumeStatus, volumeXml } from '../render';
import type { SnapshotRecord, VolumeRecord } from '../state';
import { DEFAULT_VOLUME_TYPE, resolveVolumeSpec } from '../volume-types';
import { type Action, type Ctx, nowIso } from './context';
import { findSnapshot, findVolume, volumesInRegion } from './lookups';
import { tagsFromSpecifications } from './tags';

const CLIENT_TOKEN_MAX = 64;
/** How long a ClientToken keeps answering with its volume (EC2 keeps them for hours). */
const CLIENT_TOKEN_LIFETIME_MS = 24 * 3600 * 1000;

function forgetOldClientTokens(ctx: Ctx): void {
  const oldest = Date.now() - CLIENT_TOKEN_LIFETIME_MS;
  for (const [token, record] of Object.entries(ctx.state.clientTokens)) {
    if (Date.parse(record.response.createTime) < oldest) delete ctx.state.clientTokens[token];
  }
}

/** Zones a region offers: a to f, as most large regions do. */
export function regionZones(region: string): string[] {
  return ['a', 'b', 'c', 'd', 'e', 'f'].map((letter) => `${region}${letter}`);
}

function resolveZone(zone: string | undefined, zoneId: string | undefined, region: string): string {
  if (zone && zoneId) throw invalidParameterCombination('Only one of AvailabilityZone or AvailabilityZoneId can be specified.');
  if (!zone && zoneId) {
    const match = regionZones(region).find((candidate) => zoneIdOf(candidate) === zoneId);
    if (!match) throw invalidParameterValue(`Invalid availability zone id: [${zoneId}]`);
    return match;
  }
  if (!zone) throw missingParameter('AvailabilityZone');
  if (!isZoneName(zone) || regionOfZone(zone) !== region || !regionZones(region).includes(zone)) throw invalidParameterValue(`Invalid availability zone: [${zone}]`);
  return zone;
}

/** EC2 answers with the key's ARN whichever form the caller used. */
function kmsKeyArn(keyId: string, region: string, accountId: string): string {
  if (keyId.startsWith('arn:')) return keyId;
  if (keyId.startsWith('alias/')) return `arn:aws:kms:${region}:${accountId}:${keyId}`;
  if (/^[0-9a-f-]{36}$/i.test(keyId)) return `arn:aws:kms:${region}:${accountId}:key/${keyId}`;
  throw invalidParameterValue(`Invalid value '${keyId}' for KmsKeyId. Expected a key id, key ARN, alias name or alias ARN.`);
}

/** The account's default EBS key (aws/ebs), as EC2 reports it for volumes encrypted without a key id. */
function defaultKmsKey(region: string, accountId: string): string {
  return `arn:aws:kms:${region}:${accountId}:key/0b5e4c1a-7f62-4d1e-9a3b-0c0ffee0eb50`;
}

function usableSnapshot(ctx: Ctx, region: string, snapshotId: string | undefined): SnapshotRecord | undefined {
  if (snapshotId === undefined || snapshotId === '') return undefined;
  const snapshot = findSnapshot(ctx.state, region, snapshotId);
  if (snapshot.state !== 'completed') throw incorrectState(`Snapshot is in invalid state - ${snapshot.state}`);
  return snapshot;
}

async function completeCreate(ctx: Ctx, volumeId: string): Promise<void> {
  const volume = ctx.state.volumes[volumeId];
  if (volume?.lifecycle !== 'creating') return;
  volume.lifecycle = 'available';
  ctx.commit();
  ctx.log.info('volume available', { volumeId });
}

export const createVolume: Action = {
  params: [
    'Size',
    'VolumeType',
    'Iops',
    'Throughput',
    'Encrypted',
    'KmsKeyId',
    'AvailabilityZone',
    'AvailabilityZoneId',
    'SnapshotId',
    'TagSpecification',
    'ClientToken',
    'MultiAttachEnabled',
  ],
  async handle(ctx, { params, region, dryRun }) {
    const clientToken = params.get('ClientToken');
    const fingerprint = `${region} ${params.fingerprint(['Action', 'Version', 'ClientToken', 'DryRun'])}`;
    if (clientToken !== undefined) {
      if (clientToken.length === 0 || clientToken.length > CLIENT_TOKEN_MAX || !/^[\x20-\x7e]+$/.test(clientToken)) {
        throw invalidParameterValue(`Invalid value '${clientToken}' for ClientToken. It must be 1 to ${CLIENT_TOKEN_MAX} ASCII characters.`);
      }
      const earlier = ctx.state.clientTokens[clientToken];
      if (earlier) {
        if (earlier.fingerprint !== fingerprint) {
          throw new Ec2Error('IdempotentParameterMismatch', `The client token '${clientToken}' was already used with different parameters.`);
        }
        if (dryRun) throw dryRunSucceeded();
        return volumeXml(earlier.response);
      }
    }

    const zone = resolveZone(params.get('AvailabilityZone'), params.get('AvailabilityZoneId'), region);
    const snapshot = usableSnapshot(ctx, region, params.get('SnapshotId'));
    const size = params.int('Size', 'size') ?? snapshot?.volumeSizeGiB;
    if (size === undefined) throw missingParameter('Size');
    if (snapshot && size < snapshot.volumeSizeGiB) {
      throw invalidParameterValue(`Volume of ${size}GiB is smaller than snapshot '${snapshot.id}', expect size >= ${snapshot.volumeSizeGiB}GiB (parameter size).`);
    }
    const spec = resolveVolumeSpec({
      volumeType: params.get('VolumeType') ?? DEFAULT_VOLUME_TYPE,
      sizeGiB: size,
      iops: params.int('Iops', 'iops'),
      throughput: params.int('Throughput', 'throughput'),
    });
    if (params.bool('MultiAttachEnabled')) {
      throw invalidParameterValue('local-ec2 does not simulate Multi-Attach: MultiAttachEnabled must be false.');
    }
    const encryptedParam = params.bool('Encrypted');
    const kmsKeyId = params.get('KmsKeyId');
    if (kmsKeyId && !encryptedParam && !snapshot?.encrypted) {
      throw new Ec2Error('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.');
    }
    const encrypted = encryptedParam === true || snapshot?.encrypted === true;
    const keyArn = encrypted
      ? kmsKeyId
        ? kmsKeyArn(kmsKeyId, region, ctx.accountId)
        : (snapshot?.kmsKeyId ?? defaultKmsKey(region, ctx.accountId))
      : undefined;
    const tags = tagsFromSpecifications(params.tagSpecifications(), 'volume');
    if (dryRun) throw dryRunSucceeded();

    const volume: VolumeRecord = {
      id: newVolumeId(),
      sizeGiB: spec.sizeGiB,
      volumeType: spec.volumeType,
      iops: spec.iops,
      throughput: spec.throughput,
      encrypted,
      kmsKeyId: keyArn,
      availabilityZone: zone,
      lifecycle: 'creating',
      createTime: nowIso(),
      snapshotId: snapshot?.id,
      tags,
    };
    const response = volumeXml(volume);
    ctx.state.volumes[volume.id] = volume;
    if (clientToken !== undefined) {
      forgetOldClientTokens(ctx);
      ctx.state.clientTokens[clientToken] = { fingerprint, volumeId: volume.id, response: structuredClone(volume) };
    }
    const file = volumeFile(ctx.dataDir, volume.id);
    try {
      if (snapshot) {
        await copySparse(snapshotFile(ctx.dataDir, snapshot.id), file);
        await growFile(file, volume.sizeGiB);
      } else {
        await createSparseFile(file, volume.sizeGiB);
      }
    } catch (err) {
      volume.lifecycle = 'error';
      ctx.log.error('volume backing file could not be made: the volume is in state error', { volumeId: volume.id, file, error: String(err) });
    }
    ctx.commit();
    ctx.log.info('volume creating', { volumeId: volume.id, sizeGiB: volume.sizeGiB, volumeType: volume.volumeType, zone });
    await ctx.scheduler.schedule(ctx.delays.create, `create ${volume.id}`, () => completeCreate(ctx, volume.id));
    return response;
  },
};

const VOLUME_FILTERS = [
  'attachment.attach-time',
  'attachment.delete-on-termination',
  'attachment.device',
  'attachment.instance-id',
  'attachment.status',
  'availability-zone',
  'availability-zone-id',
  'create-time',
  'encrypted',
  'multi-attach-enabled',
  'size',
  'snapshot-id',
  'status',
  'volume-id',
  'volume-type',
] as const;

function volumeFilterField(volume: VolumeRecord, name: string): string[] | undefined {
  const attachment = volume.attachment;
  const attached = (value: string | undefined): string[] => (value === undefined ? [] : [value]);
  switch (name) {
    case 'attachment.attach-time':
      return attached(attachment?.attachTime);
    case 'attachment.delete-on-termination':
      return attached(attachment && String(attachment.deleteOnTermination));
    case 'attachment.device':
      return attached(attachment?.device);
    case 'attachment.instance-id':
      return attached(attachment?.instanceId);
    case 'attachment.status':
      return attached(attachment?.status);
    case 'availability-zone':
      return [volume.availabilityZone];
    case 'availability-zone-id':
      return [zoneIdOf(volume.availabilityZone)];
    case 'create-time':
      return [volume.createTime];
    case 'encrypted':
      return [String(volume.encrypted)];
    case 'multi-attach-enabled':
      return ['false'];
    case 'size':
      return [String(volume.sizeGiB)];
    case 'snapshot-id':
      return [volume.snapshotId ?? ''];
    case 'status':
      return [volumeStatus(volume)];
    case 'volume-id':
      return [volume.id];
    case 'volume-type':
      return [volume.volumeType];
    default:
      return tagFilterValues(volume.tags, name);
  }
}

export const describeVolumes: Action = {
  params: ['VolumeId', 'Filter', 'MaxResults', 'NextToken', 'IncludeManagedResources'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('VolumeId').map(checkVolumeId);
    const maxResults = params.int('MaxResults', 'maxResults');
    if (ids.length > 0 && maxResults !== undefined) {
      throw invalidParameterCombination('The parameter volumeSet cannot be used with the parameter maxResults');
    }
    checkMaxResults(maxResults, 5);
    let volumes = volumesInRegion(ctx.state, region);
    if (ids.length > 0) {
      const missing = ids.find((id) => !volumes.some((volume) => volume.id === id));
      if (missing) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${missing}' does not exist.`);
      volumes = volumes.filter((volume) => ids.includes(volume.id));
    }
    const filtered = applyFilters(volumes, params.filters(), volumeFilterField, VOLUME_FILTERS);
    // As documented for DescribeVolumes: a larger MaxResults returns at most 500 volumes.
    const page = paginate(filtered, (volume) => volume.id, maxResults, params.get('NextToken'), 500);
    if (dryRun) throw dryRunSucceeded();
    return { volumeSet: page.items.map(volumeXml), nextToken: page.nextToken };
  },
};

async function completeDelete(ctx: Ctx, volumeId: string): Promise<void> {
  const volume = ctx.state.volumes[volumeId];
  if (volume?.lifecycle !== 'deleting') return;
  await removeFile(volumeFile(ctx.dataDir, volumeId));
  delete ctx.state.volumes[volumeId];
  delete ctx.state.modifications[volumeId];
  ctx.commit();
  ctx.log.info('volume deleted', { volumeId });
}

export const deleteVolume: Action = {
  params: ['VolumeId'],
  async handle(ctx, { params, region, dryRun }) {
    const volume = findVolume(ctx.state, region, params.require('VolumeId'));
    if (volume.attachment) {
      throw new Ec2Error('VolumeInUse', `Volume ${volume.id} is currently attached to ${volume.attachment.instanceId}`);
    }
    if (volume.lifecycle === 'creating') throw incorrectState(`The volume '${volume.id}' is 'creating'.`);
    if (dryRun) throw dryRunSucceeded();
    if (volume.lifecycle === 'deleting') return { return: true };
    volume.lifecycle = 'deleting';
    ctx.commit();
    await ctx.scheduler.schedule(ctx.delays.delete, `delete ${volume.id}`, () => completeDelete(ctx, volume.id));
    return { return: true };
  },
};

/** Resumes transitions that were under way when the endpoint stopped. */
export async function resumeVolumeTransitions(ctx: Ctx): Promise<void> {
  for (const volume of Object.values(ctx.state.volumes)) {
    if (volume.lifecycle === 'creating') {
      await ctx.scheduler.schedule(ctx.delays.create, `create ${volume.id}`, () => completeCreate(ctx, volume.id));
    } else if (volume.lifecycle === 'deleting') {
      await ctx.scheduler.schedule(ctx.delays.delete, `delete ${volume.id}`, () => completeDelete(ctx, volume.id));
    }
  }
}
