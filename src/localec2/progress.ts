/**
 * Progress as EC2 reports it while a transition is under way, from the time since it started against the
 * endpoint's delay for it: a volume modification's Progress (0-100) rises through modifying and optimizing, a
 * snapshot's Progress ("NN%") while it is pending. Both reach 100 only once the transition has completed.
 */
import type { ModificationRecord, SnapshotRecord } from './state';

/** Optimizing lasts this many modify delays after modifying's one: on EC2 it is the long part (hours for large volumes). */
export const OPTIMIZING_DELAYS = 3;

/** A transition's timer can fire late (it waits for the lock); until it has, progress stays below 100. */
const MOST_UNDER_WAY = 99;

/** The share of a modification's time that modifying takes: where optimizing starts on the 0-100 scale. */
const OPTIMIZING_STARTS_AT = Math.round(100 / (1 + OPTIMIZING_DELAYS));

function percentElapsed(startTime: string, spanMs: number, now: number): number {
  if (spanMs <= 0) return 0;
  return Math.max(0, Math.floor(((now - Date.parse(startTime)) / spanMs) * 100));
}

export function modificationProgress(modification: ModificationRecord, modifyDelayMs: number, now = Date.now()): number {
  if (modification.state === 'completed') return 100;
  if (modification.state === 'failed') return modification.progress;
  const percent = percentElapsed(modification.startTime, modifyDelayMs * (1 + OPTIMIZING_DELAYS), now);
  if (modification.state === 'modifying') return Math.min(percent, OPTIMIZING_STARTS_AT);
  return Math.min(Math.max(percent, OPTIMIZING_STARTS_AT), MOST_UNDER_WAY);
}

export function snapshotProgress(snapshot: SnapshotRecord, snapshotDelayMs: number, now = Date.now()): string {
  if (snapshot.state === 'completed') return '100%';
  if (snapshot.state === 'error') return '0%';
  return `${Math.min(percentElapsed(snapshot.startTime, snapshotDelayMs, now), MOST_UNDER_WAY)}%`;
}
