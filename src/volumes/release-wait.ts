/** Waiting, bounded, for an attachment to go away: another instance releasing the volume, or this one's detach. */
import type { Attachment, CloudVolume } from '../cloud/types';
import { WaitTimeoutError, waitFor } from '../common/poll';
import type { ServiceDeps } from './deps';

const POLL_FIRST_MS = 250;
const POLL_FLOOR_MS = 250;
const POLL_MAX_MS = 1_000;

/**
 * Gaps between polls: half of how long a detach usually takes here (the holder is letting go, or about to), or,
 * before this host saw one, half of the time waited so far; within the floor and the cap. A 3 s release is seen
 * with about 4 DescribeVolumes, not 10.
 */
export function releasePollDelayMs(elapsedMs: number, polls: number, usualDetachMs: number | undefined): number {
  if (polls === 0) return POLL_FIRST_MS;
  return Math.min(POLL_MAX_MS, Math.max(POLL_FLOOR_MS, (usualDetachMs ?? elapsedMs) / 2));
}

/**
 * The volume once `holding` finds no attachment to wait for, or as last seen when `timeoutMs` passes (the caller
 * decides what a remaining holder means). The caller's signal ending is thrown.
 */
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
