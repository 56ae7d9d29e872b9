/**
 * Create, so that an answer of Err leaves no EBS volume behind: the user was told it failed, and a later Create of
 * the name would silently reuse what this one made (with the options of the failed call).
 *
 * CreateVolume is idempotent per name (ClientTokens of name and generation, see cloud/types `create`), so a Create
 * whose call failed after EC2 made the volume (a 5xx after the change, a lost answer) is first simply asked again,
 * within a bound: the retry finds that volume by name or by its token, and succeeds. Only when EC2 keeps failing
 * past the bound is what this call made deleted: a berth volume of this name created since the call began, still
 * unformatted and never attached. A volume that was there before is never touched. (Two hosts creating one name at
 * the same moment share one volume by design; should one of them fail, the volume it deletes was never used.)
 */
import { liveAttachments } from '../cloud/attachments';
import type { CloudVolume, CreateVolumeSpec } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import { sleep } from '../common/poll';
import type { ServiceDeps } from './deps';

/** Pauses before the second and third attempt (each attempt's EC2 calls are already retried by the SDK). */
const RETRY_DELAYS_MS = [500, 1_500];
/**
 * The clean-up's own look-up and delete may fail too while EC2 is failing: six tries over 15 s (three, over 2 s,
 * left a volume behind about once in five fault-soak runs at 30% server errors).
 */
const CLEANUP_DELAYS_MS = [0, 500, 1_000, 2_000, 4_000, 8_000];
/** EC2's clock against this machine's (Amazon Time Sync keeps instances within milliseconds). */
const CLOCK_SKEW_MS = 2_000;

export async function createVolume(spec: CreateVolumeSpec, { cloud, logger }: ServiceDeps): Promise<CloudVolume> {
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
  await deleteWhatThisCallMade(spec.name, startedAt, failure, { cloud, logger });
  throw failure;
}

/** EC2 errors and timeouts may pass; a refused option, an unknown key or missing capacity do not. */
function mayBeTransient(err: unknown): boolean {
  return err instanceof BerthError ? err.code === 'cloud' || err.code === 'timeout' : true;
}

async function deleteWhatThisCallMade(name: string, startedAt: number, failure: unknown, { cloud, logger }: Pick<ServiceDeps, 'cloud' | 'logger'>) {
  let lastError: unknown;
  for (const delayMs of CLEANUP_DELAYS_MS) {
    await sleep(delayMs);
    try {
      const made = await cloud.findByName(name);
      if (!made || !madeByThisCall(made, startedAt)) return;
      await cloud.delete(made.volumeId);
      logger.warn('deleted the volume a failed Create made', { volume: name, volumeId: made.volumeId, error: errorMessage(failure) });
      return;
    } catch (err) {
      lastError = err;
    }
  }
  logger.error('a failed Create may have left an EBS volume that could not be deleted', { volume: name, error: errorMessage(lastError) });
  throw new BerthError('cloud', `${errorMessage(failure)}; the volume it may have made could not be looked up or deleted either (${errorMessage(lastError)}): remove it with docker volume rm ${name}`);
}

function madeByThisCall(volume: CloudVolume, startedAt: number): boolean {
  return (
    volume.owner === 'berth' &&
    volume.unformatted &&
    liveAttachments(volume).length === 0 &&
    (volume.state === 'available' || volume.state === 'creating') &&
    volume.createTime.getTime() >= startedAt - CLOCK_SKEW_MS
  );
}
