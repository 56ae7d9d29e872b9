/**
 * ModifyVolume's rule on repeated modifications, as EC2's ModifyVolume API reference states it: "After you initiate
 * a volume modification, you must wait for that modification to reach the completed state before you can initiate
 * another modification for the same volume. You can modify a volume up to four times within a rolling 24-hour
 * period ... If you exceed this limit, you get an error message that indicates when you can perform your next
 * modification." The start times of a volume's recent modifications are kept on the volume record.
 */
import { Ec2Error } from '../ec2-error';
import type { ModificationRecord, VolumeRecord } from '../state';

export const MODIFICATIONS_PER_WINDOW = 4;
export const MODIFICATION_WINDOW_MS = 24 * 3600 * 1000;

function startsWithinWindow(volume: VolumeRecord, now: number): string[] {
  return (volume.modificationStarts ?? []).filter((start) => Date.parse(start) > now - MODIFICATION_WINDOW_MS).sort();
}

/** Refuses a modification while the latest is under way, or when the volume had four in the last 24 hours. */
export function checkModificationAllowed(volume: VolumeRecord, latest: ModificationRecord | undefined, now = Date.now()): void {
  if (latest?.state === 'modifying' || latest?.state === 'optimizing') {
    // The wording of a real EC2 answer quoted in public logs; EC2's documentation does not give the message.
    throw new Ec2Error('IncorrectModificationState', `Volume ${volume.id} cannot be modified in modification state ${latest.state.toUpperCase()}`);
  }
  const recent = startsWithinWindow(volume, now);
  if (recent.length < MODIFICATIONS_PER_WINDOW) return;
  const nextAllowed = new Date(Date.parse(recent[recent.length - MODIFICATIONS_PER_WINDOW]) + MODIFICATION_WINDOW_MS);
  // The code is EC2's (AWS's knowledge center quotes Client.VolumeModificationRateExceeded with "You've reached the
  // maximum modification rate per volume limit."); the sentence giving the next allowed time could not be verified.
  throw new Ec2Error(
    'VolumeModificationRateExceeded',
    `You've reached the maximum modification rate per volume limit. Volume ${volume.id} was modified ${MODIFICATIONS_PER_WINDOW} times in the last 24 hours; you can modify it again after ${nextAllowed.toISOString()}.`,
  );
}

/** Remembers a modification's start, forgetting those that have left the 24-hour window. */
export function recordModificationStart(volume: VolumeRecord, startTime: string, now = Date.now()): void {
  volume.modificationStarts = [...startsWithinWindow(volume, now), startTime];
}
