/** Waiting, bounded, for an attachment to go away: another instance releasing the volume, or this one's detach. */
import type { Attachment, CloudVolume } from '../cloud/types';
import { WaitTimeoutError, waitFor } from '../common/poll';
import type { ServiceDeps } from './deps';

const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 500;

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
      { what: `${volume.volumeId} to be released`, initialDelayMs: POLL_FIRST_MS, maxDelayMs: POLL_MAX_MS, maxAttempts: Infinity, timeoutMs, signal },
    );
  } catch (err) {
    signal.throwIfAborted();
    if (!(err instanceof WaitTimeoutError)) throw err;
  }
  return latest;
}
