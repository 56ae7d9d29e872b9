/**
 * Creating a volume once per name, whichever hosts race to create it: ClientToken generations, adopting the
 * volume another host made after a burned token, settling a race that left two volumes of one name, and waiting
 * until the new volume is available. Also what ends a volume's life (delete) and its first mkfs (markFormatted).
 */
import { CreateVolumeCommand, DeleteTagsCommand, DeleteVolumeCommand } from '@aws-sdk/client-ec2';
import { BerthError, errorMessage } from '../common/errors';
import { statusWait } from './context';
import { clientToken, createVolumeInput } from './create-input';
import { ec2Call, hasErrorCode, mapEc2Error } from './errors';
import type { CloudParts } from './parts';
import { TAGS, isGone, isRetired, nameFilters, namespaceOf, volumeTags } from './tags';
import type { CloudVolume, CreateVolumeSpec } from './types';

/** ClientToken generations tried per create before giving up (each burned token is one quick CreateVolume call). */
export const MAX_GENERATIONS = 20;
/**
 * EC2 answers a ClientToken it has seen with its first answer (state `creating`), even once that volume is deleted.
 * An answer created this long before the look-up that found no volume of the name is such an old one (the margin
 * covers the clock of this host against EC2's, and a listing standing in for the look-up).
 */
export const EARLIER_TOKEN_MARGIN_MS = 10_000;
/** A volume EC2 still does not show this long after CreateVolume returned it is taken for a deleted one. */
export const NOT_VISIBLE_LIMIT_MS = 15_000;

type Created = { VolumeId?: string; State?: string; CreateTime?: Date };

export class VolumeCreator {
  /** Per name, the highest generation seen burned here: later creates of the name start above it. */
  private readonly burned = new Map<string, number>();

  constructor(private readonly parts: CloudParts) {}

  /** CreateVolume gets exactly what the spec says (zone, encryption and key included): defaults are the caller's. */
  async create(spec: CreateVolumeSpec, signal?: AbortSignal): Promise<CloudVolume> {
    const lookedAt = Date.now();
    const existing = this.parts.lookups.listedRecentlyWithout(spec.name) ? undefined : await this.parts.lookups.findByName(spec.name, signal);
    if (existing) return untilAvailable(this.parts, existing, signal);
    const namespace = namespaceOf(this.parts.config.tag);
    for (let generation = (this.burned.get(spec.name) ?? 0) + 1; generation <= MAX_GENERATIONS; generation++) {
      const token = clientToken(namespace, spec.name, generation);
      let created: Created;
      const requestedAt = Date.now();
      try {
        created = await this.parts.ec2.send(new CreateVolumeCommand(this.createInput(spec, generation, token)), { abortSignal: signal });
      } catch (err) {
        if (!hasErrorCode(err, 'IdempotentParameterMismatch')) throw mapEc2Error(err, `CreateVolume ${spec.name}`);
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, 'IdempotentParameterMismatch', signal);
        if (winner) return winner;
        continue;
      }
      const volumeId = created.VolumeId ?? '';
      const earlier = earlierAnswer(created, lookedAt);
      if (created.State === 'deleting' || created.State === 'deleted' || earlier) {
        const why = earlier ? `its token returned ${volumeId}, created at ${created.CreateTime?.toISOString()}, before this create began` : `its token returned ${volumeId}, ${created.State}`;
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, why, signal);
        if (winner) return winner;
        continue;
      }
      const waited = await this.waitCreated(spec.name, volumeId, requestedAt, signal);
      if (waited === 'not-visible') {
        const winner = await this.adoptAfterBurnedToken(spec.name, generation, `its token returned ${volumeId}, which EC2 does not show ${NOT_VISIBLE_LIMIT_MS / 1000} s later`, signal);
        if (winner) return winner;
        continue;
      }
      const { volume, sameName } = waited;
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
    this.parts.lookups.forgetRecent(volumeId);
    try {
      await this.parts.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }), { abortSignal: signal });
    } catch (err) {
      if (hasErrorCode(err, 'InvalidVolume.NotFound')) return;
      throw mapEc2Error(err, `DeleteVolume ${volumeId}`);
    }
  }

  async markFormatted(volumeId: string, signal?: AbortSignal): Promise<void> {
    this.parts.lookups.forgetRecent(volumeId);
    await ec2Call(`DeleteTags ${TAGS.unformatted} on ${volumeId}`, () =>
      this.parts.ec2.send(new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAGS.unformatted }] }), { abortSignal: signal }),
    );
  }

  private createInput(spec: CreateVolumeSpec, generation: number, token: string) {
    return createVolumeInput({
      availabilityZone: spec.availabilityZone,
      sizeGiB: spec.sizeGiB,
      volumeType: spec.volumeType,
      iops: spec.iops,
      throughput: spec.throughput,
      encrypted: spec.encrypted,
      kmsKeyId: spec.kmsKeyId,
      snapshotId: spec.snapshotId,
      clientToken: token,
      tags: volumeTags(spec, this.parts.config.tag, generation),
    });
  }

  /** A token of this name is burned: another host may have created the volume meanwhile; adopt it if so. */
  private async adoptAfterBurnedToken(name: string, generation: number, why: string, signal?: AbortSignal): Promise<CloudVolume | undefined> {
    this.burned.set(name, Math.max(generation, this.burned.get(name) ?? 0));
    const found = await this.parts.lookups.findByName(name, signal);
    if (found) {
      this.parts.logger.info('volume created meanwhile by another host or call; using it', { name, volumeId: found.volumeId, generation, why });
      return untilAvailable(this.parts, found, signal);
    }
    this.parts.logger.debug('ClientToken generation already used; trying the next', { name, generation, why });
    return undefined;
  }

  /**
   * Racing hosts whose tag lookups missed each other's new volume end with two volumes of one name. Both pick
   * the oldest (as findByName does); the newer one, never attached nor formatted, is deleted again.
   */
  private async settleRace(mine: CloudVolume, sameName: CloudVolume[], signal?: AbortSignal): Promise<CloudVolume> {
    const candidates = this.parts.lookups.ownNamed(sameName, mine.name);
    const winner = candidates.length > 0 ? this.parts.lookups.pickOne(candidates, mine.name) : undefined;
    if (!winner || winner.volumeId === mine.volumeId) return mine;
    this.parts.logger.warn('another volume of this name was created at the same time; using the older one', {
      name: mine.name,
      using: winner.volumeId,
      deleting: mine.volumeId,
    });
    const fresh = await this.parts.lookups.describe(mine.volumeId, signal);
    if (fresh && fresh.state === 'available' && fresh.unformatted && fresh.attachments.length === 0) {
      await this.delete(mine.volumeId, signal).catch((err: unknown) =>
        this.parts.logger.warn('could not delete the duplicate volume', { volumeId: mine.volumeId, error: errorMessage(err) }),
      );
    }
    return untilAvailable(this.parts, winner, signal);
  }

  /**
   * Waits while a volume just created is `creating`, looking it up by its name: the answer that shows it
   * available also shows any other volume of that name created at the same time (for settleRace). While the
   * name lookup does not show it (tags seen late, or a token that returned a volume without those tags), its id
   * is described too.
   */
  private async waitCreated(
    name: string,
    volumeId: string,
    requestedAt: number,
    signal?: AbortSignal,
  ): Promise<{ volume: CloudVolume; sameName: CloudVolume[] } | 'not-visible'> {
    try {
      return await this.parts.pace.wait<{ volume: CloudVolume; sameName: CloudVolume[] }>(
        'create',
        requestedAt,
        async () => {
          const askedAt = Date.now();
          const sameName = await this.parts.lookups.query(nameFilters(this.parts.config.tag, name), signal);
          const named = sameName.find((candidate) => candidate.volumeId === volumeId);
          if (named) this.parts.lookups.noteSeen(named, askedAt);
          const volume = named ?? (await this.parts.lookups.describe(volumeId, signal));
          if (!volume && askedAt - requestedAt >= NOT_VISIBLE_LIMIT_MS) throw new NotVisible();
          if (!volume) return { done: false, state: 'not visible yet' };
          if (volume.state === 'creating') return { done: false, state: 'creating' };
          if (volume.state === 'error') throw createFailed(volumeId);
          return { done: true, value: { volume, sameName } };
        },
        statusWait(this.parts.config, `${volumeId} to become available`, this.parts.config.statusTimeoutMs, signal),
      );
    } catch (err) {
      if (err instanceof NotVisible) return 'not-visible';
      throw err;
    }
  }
}

/** Thrown out of a wait, not answered, so that the pace does not take it for a create that took that long. */
class NotVisible extends Error {}

/**
 * Waits while the volume is `creating` (or not visible yet); resolves with the first other state seen. `requestedAt`:
 * when its CreateVolume was sent, if known.
 */
export function waitAvailable(parts: CloudParts, volumeId: string, signal?: AbortSignal, requestedAt = Date.now()): Promise<CloudVolume> {
  return parts.pace.wait<CloudVolume>(
    'create',
    requestedAt,
    async () => {
      const volume = await parts.lookups.describe(volumeId, signal);
      if (!volume) return { done: false, state: 'not visible yet' };
      if (volume.state === 'creating') return { done: false, state: 'creating' };
      if (volume.state === 'error') throw createFailed(volumeId);
      return { done: true, value: volume };
    },
    statusWait(parts.config, `${volumeId} to become available`, parts.config.statusTimeoutMs, signal),
  );
}

/** The volume as it is once no longer `creating`: at once unless it still is. */
export function untilAvailable(parts: CloudParts, volume: CloudVolume, signal?: AbortSignal): Promise<CloudVolume> {
  return volume.state === 'creating' ? waitAvailable(parts, volume.volumeId, signal) : Promise.resolve(volume);
}

/** True when CreateVolume answered with a volume made well before this create looked for the name. */
function earlierAnswer(created: Created, lookedAt: number): boolean {
  const createdAt = created.CreateTime?.getTime();
  return createdAt !== undefined && createdAt < lookedAt - EARLIER_TOKEN_MARGIN_MS;
}

function createFailed(volumeId: string): BerthError {
  return new BerthError(
    'cloud',
    `volume ${volumeId} entered the error state while being created (an unusable KMS key or source snapshot can cause this)`,
  );
}
