/**
 * `berth snapshot create`: a point-in-time snapshot of the volume (crash-consistent, like the state after a power
 * loss, which a journaled filesystem and a database recover from), tagged as berth's in this namespace with the
 * volume's name and the user's tags, waited for until EC2 completes it. Restore is `docker volume create -o snapshot=`.
 */
import { BerthError, ValidationError } from '../common/errors';
import { waitFor } from '../common/poll';
import type { AdministrationDeps } from './administration-deps';
import { snapshotView } from './admin-views';
import type { AdminSnapshot, ProgressListener } from './operations';

const MAX_TAGS = 40;
const MAX_KEY_CHARS = 128;
const MAX_VALUE_CHARS = 256;
/** Prefixes EC2 reserves (aws:) or berth keeps for its own bookkeeping (berth:, Name). */
const RESERVED = [/^aws:/i, /^berth:/, /^Name$/];
/** Large volumes take hours to snapshot the first time. */
const SNAPSHOT_WAIT_MS = 24 * 60 * 60 * 1000;
export const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;

export function checkSnapshotTags(tags: unknown): Record<string, string> {
  if (tags === undefined) return {};
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw new ValidationError('tag', 'tags must be an object of key: value strings');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > MAX_TAGS) throw new ValidationError('tag', `at most ${MAX_TAGS} tags, not ${entries.length}`);
  for (const [key, value] of entries) {
    const shown = JSON.stringify(key.slice(0, 40));
    if (key.length === 0 || key.length > MAX_KEY_CHARS) throw new ValidationError('tag', `tag key ${shown} must have 1 to ${MAX_KEY_CHARS} characters`);
    if (RESERVED.some((pattern) => pattern.test(key))) throw new ValidationError('tag', `tag key ${shown} is reserved (aws:, berth: and Name are not yours to set)`);
    if (typeof value !== 'string' || value.length > MAX_VALUE_CHARS) throw new ValidationError('tag', `tag ${shown} needs a text value of at most ${MAX_VALUE_CHARS} characters`);
  }
  return tags as Record<string, string>;
}

export function checkSnapshotId(snapshotId: string): string {
  if (!SNAPSHOT_ID.test(snapshotId)) throw new ValidationError('snapshot', `${JSON.stringify(snapshotId.slice(0, 40))} is not a snapshot id (snap- and 8 or 17 hex digits)`);
  return snapshotId;
}

export async function snapshotVolume(
  name: string,
  tags: Record<string, string>,
  deps: AdministrationDeps,
  progress: ProgressListener,
  signal: AbortSignal,
): Promise<AdminSnapshot> {
  const { snapshotId, volumeId } = await deps.underLock(name, async () => {
    const volume = await deps.lookUp(name, signal);
    const description = `berth: snapshot of volume ${name} (${volume.volumeId})`;
    const id = await deps.cloud.createSnapshot(volume.volumeId, name, description, tags, signal);
    deps.logger.info('snapshot started', { volume: name, volumeId: volume.volumeId, snapshotId: id });
    return { snapshotId: id, volumeId: volume.volumeId };
  });
  progress({ step: 'snapshot', message: `EC2 is copying ${name} (${volumeId}) into ${snapshotId}`, percent: 0 });
  const completed = await waitFor(
    async () => {
      const snapshot = await deps.cloud.describeSnapshot(snapshotId, signal);
      if (snapshot?.state === 'error') throw new BerthError('cloud', `EC2 could not complete snapshot ${snapshotId}${snapshot.stateMessage ? `: ${snapshot.stateMessage}` : ''}`);
      if (snapshot?.state === 'completed') return { done: true, value: snapshot };
      if (snapshot) progress({ step: 'snapshot', message: `snapshot ${snapshotId}: ${snapshot.state}`, percent: snapshot.progress });
      return { done: false, state: snapshot?.state ?? 'not visible yet' };
    },
    { what: `snapshot ${snapshotId} to complete`, initialDelayMs: 500, maxAttempts: Number.MAX_SAFE_INTEGER, timeoutMs: SNAPSHOT_WAIT_MS, maxDelayMs: 5_000, signal },
  ).catch((err: unknown) => {
    if (signal.aborted) throw new BerthError('timeout', `stopped waiting for snapshot ${snapshotId}: the caller went away (EC2 goes on copying it)`);
    throw err;
  });
  deps.logger.info('snapshot completed', { volume: name, snapshotId });
  return snapshotView(completed);
}
