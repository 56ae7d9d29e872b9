/**
 * Create, so that an answer of Err leaves no EBS volume behind: the user was told it failed, and a later Create of
 * the name would silently reuse what this one made (with the options of the failed call).
 *
 * CreateVolume is idempotent per name (ClientTokens of name and generation, see cloud/types `create`), so a Create
 * whose call failed after EC2 made the volume (a 5xx after the change, a lost answer) is first simply asked again,
 * within a bound: the retry finds that volume by name or by its token, and succeeds. Only when EC2 keeps failing
 * past the bound is what this call made deleted (see abandoned-creates.ts for which volume that is); when even that
 * keeps failing, the delete is handed to the background, which finishes it once EC2 answers again.
 */
import type { CloudVolume, CreateVolumeSpec } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import { sleep } from '../common/poll';
import { deleteMadeSince, type AbandonedCreates } from './abandoned-creates';
import type { ServiceDeps } from './deps';

/** Pauses before the second and third attempt (each attempt's EC2 calls are already retried by the SDK). */
const RETRY_DELAYS_MS = [500, 1_500];
/**
 * The clean-up's own look-up and delete may fail too while EC2 is failing: six tries over 15 s (three, over 2 s,
 * left a volume behind about once in five fault-soak runs at 30% server errors), then the background.
 */
const CLEANUP_DELAYS_MS = [0, 500, 1_000, 2_000, 4_000, 8_000];

export async function createVolume(
  spec: CreateVolumeSpec,
  { cloud, logger }: ServiceDeps,
  abandoned: AbandonedCreates,
): Promise<CloudVolume> {
  const startedAt = Date.now();
  let failure: unknown;
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    if (attempt > 0) {
      logger.warn('creating the volume failed; trying again', { volume: spec.name, attempt: attempt + 1, error: errorMessage(failure) });
      await sleep(RETRY_DELAYS_MS[attempt - 1]);
    }
    try {
      return await cloud.create(spec);
    } catch (err) {
      failure = err;
      if (!mayBeTransient(err)) break;
    }
  }
  if (!(await deletedWhatThisCallMade(spec.name, startedAt, failure, { cloud, logger }))) {
    await abandoned.add(spec.name, startedAt, failure);
    throw new BerthError('cloud', `${errorMessage(failure)}; the volume it may have made is deleted in the background once EC2 answers again`);
  }
  throw failure;
}

/** EC2 errors and timeouts may pass; a refused option, an unknown key or missing capacity do not. */
function mayBeTransient(err: unknown): boolean {
  return err instanceof BerthError ? err.code === 'cloud' || err.code === 'timeout' : true;
}

/** False when EC2 kept failing the look-up or the delete. */
async function deletedWhatThisCallMade(name: string, startedAt: number, failure: unknown, { cloud, logger }: Pick<ServiceDeps, 'cloud' | 'logger'>): Promise<boolean> {
  let lastError: unknown;
  for (const delayMs of CLEANUP_DELAYS_MS) {
    await sleep(delayMs);
    try {
      const deleted = await deleteMadeSince(cloud, name, startedAt);
      if (deleted) logger.warn('deleted the volume a failed Create made', { volume: name, volumeId: deleted.volumeId, error: errorMessage(failure) });
      return true;
    } catch (err) {
      lastError = err;
    }
  }
  logger.error('a failed Create may have left an EBS volume that could not be deleted yet', { volume: name, error: errorMessage(lastError) });
  return false;
}
