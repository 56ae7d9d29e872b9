/** Waiting, bounded, for an attachment to go away: another instance releasing the volume, or this one's detach. */
import type { Attachment, CloudVolume } from '../cloud/types';
import { WaitTimeoutError, waitFor } from '../common/poll';
import type { ServiceDeps } from './deps';

const POLL_FIRST_MS = 250;
const POLL_FLOOR_MS = 500;
const POLL_MAX_MS = 2_000;

/**
 * The first poll soon (a holder that was already letting go), then gaps of half the time waited so far, or of a
 * usual detach here when that is longer, within the floor and the cap: the holder's own detach takes seconds
 * on EC2, and every DescribeVolumes draws on the account's request limits. A 4 s release is seen with about 6
 * DescribeVolumes (it took 17 at 100-500 ms apart).
 */
export function releasePollDelayMs(elapsedMs: number, polls: number, usualDetachMs: number | undefined): number {
  if (polls === 0) return POLL_FIRST_MS;
  return Math.min(POLL_MAX_MS, Math.max(POLL_FLOOR_MS, Math.max(usualDetachMs ?? 0, elapsedMs) / 2));
}

export async function waitWhileHeld(
  volume: CloudVolume,
  holding: (volume: CloudVolume) => Attachment | undefined,
  { timeoutMs, signal, logMessage }: { timeoutMs: number; signal: AbortSignal; logMessage: string },
  { cloud, logger }: Pick<ServiceDeps, 'cloud' | 'logger'>,
): Promise<CloudVolume> {
  let latest = volume;
  const first = holding(volume);
  if (!first) return volume;
  logger.info(logMessage, {
    volume: volume.name,
    volumeId: volume.volumeId,
    holder: first.instanceId,
    state: first.state,
    waitMs: timeoutMs,
  });
  try {
    await waitFor<void>(
      async () => {
        latest = (await cloud.describe(volume.volumeId, signal)) ?? latest;
        const holder = holding(latest);
        return holder ? { done: false, state: `${holder.state} to ${holder.instanceId}` } : { done: true, value: undefined };
      },
      {
        what: `${volume.volumeId} to be released`,
        initialDelayMs: POLL_FIRST_MS,
        schedule: (elapsedMs, polls) => releasePollDelayMs(elapsedMs, polls, cloud.usualDetachMs()),
        maxAttempts: Infinity,
        timeoutMs,
        signal,
      },
    );
  } catch (err) {
    signal.throwIfAborted();
    if (!(err instanceof WaitTimeoutError)) throw err;
  }
  return latest;
}
