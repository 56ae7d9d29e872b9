/** What the snapshot commands print for a person. */
import type { AdminSnapshot } from '../admin/protocol';
import { gib, orDash, percent, utcTime } from './formats';
import { formatTable } from './table';

const SNAPSHOT_COLUMNS = ['SNAPSHOT', 'VOLUME', 'STATE', 'PROGRESS', 'SIZE', 'STARTED'];

/** Oldest first, as they were taken. */
export function snapshotsTable(snapshots: AdminSnapshot[]): string {
  const byStart = [...snapshots].sort((a, b) => (a.startTime ?? '').localeCompare(b.startTime ?? '') || a.snapshotId.localeCompare(b.snapshotId));
  return formatTable(
    SNAPSHOT_COLUMNS,
    byStart.map((snapshot) => [
      snapshot.snapshotId,
      orDash(snapshot.volume),
      orDash(snapshot.state),
      percent(snapshot.progress),
      gib(snapshot.sizeGiB),
      utcTime(snapshot.startTime),
    ]),
  );
}

export function createdSentence(snapshot: AdminSnapshot): string {
  return `Created ${snapshot.snapshotId} of ${snapshot.volume} (${snapshot.volumeId}): ${gib(snapshot.sizeGiB)}, ${orDash(snapshot.state)}.\n`;
}

export function deletedSentence(result: { deleted: string }): string {
  return `Deleted ${result.deleted}.\n`;
}
