/** What the volume commands print for a person: the ls table, the inspect listing, the sentence of a change. */
import type { AdminModification, AdminVolume, ModifyResult, ReleaseResult } from '../admin/protocol';
import { gib, mibPerSecond, oneLine, orDash, percent, seconds, utcTime } from './formats';
import { formatFields, formatTable } from './table';

const VOLUME_COLUMNS = ['NAME', 'VOLUME ID', 'SIZE', 'TYPE', 'IOPS', 'THROUGHPUT', 'ZONE', 'STATE', 'ATTACHED TO', 'USERS'];

export function volumesTable(volumes: AdminVolume[]): string {
  const byName = [...volumes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return formatTable(
    VOLUME_COLUMNS,
    byName.map((volume) => [
      volume.name,
      volume.volumeId,
      gib(volume.sizeGiB),
      orDash(volume.volumeType),
      orDash(volume.iops),
      mibPerSecond(volume.throughput),
      orDash(volume.availabilityZone),
      orDash(volume.state),
      orDash(volume.attachedTo),
      String(volume.users ?? 0),
    ]),
  );
}

export function volumeListing(volume: AdminVolume): string {
  return formatFields([
    ['Name', volume.name],
    ['Volume ID', volume.volumeId],
    ['Size', gib(volume.sizeGiB)],
    ['Type', orDash(volume.volumeType)],
    ['IOPS', orDash(volume.iops)],
    ['Throughput', mibPerSecond(volume.throughput)],
    ['Encrypted', volume.encrypted ? 'yes' : 'no'],
    ['Zone', orDash(volume.availabilityZone)],
    ['State', orDash(volume.state)],
    ['Attached to', volume.attachedTo ? `${volume.attachedTo} (${orDash(volume.attachmentState)})` : '-'],
    ['Mounted here', volume.mountedHere ? `yes, ${volume.users} ${volume.users === 1 ? 'user' : 'users'}` : 'no'],
    ['Filesystem', volume.formatted ? orDash(volume.fsType) : `${orDash(volume.fsType)} (not formatted yet)`],
    ['Created', utcTime(volume.createdAt)],
    ['From snapshot', orDash(volume.snapshotId)],
    ['Modification', modificationText(volume.modification)],
  ]);
}

function modificationText(modification: AdminModification | undefined): string {
  if (!modification) return 'none';
  const target = [
    gib(modification.targetSizeGiB),
    modification.targetVolumeType,
    modification.targetIops === undefined ? '' : `${modification.targetIops} IOPS`,
    modification.targetThroughput === undefined ? '' : mibPerSecond(modification.targetThroughput),
  ].filter(Boolean);
  const progress = modification.progress === undefined ? '' : ` ${percent(modification.progress)}`;
  const ended = modification.endTime ? `, ended ${utcTime(modification.endTime)}` : '';
  return `${modification.state}${progress}: to ${target.join(', ')}, started ${utcTime(modification.startTime)}${ended}`;
}

/** The daemon's sentence and how long the change took. */
export function modifiedSentence(result: ModifyResult): string {
  const message = oneLine(result.message ?? '').trim().replace(/\.$/, '') || `${result.volume?.name} is modified`;
  return `${message} (${seconds(result.seconds)}).\n`;
}

export function releasedSentence(result: ReleaseResult): string {
  const volume = `${result.name} (${result.volumeId})`;
  if (!result.releasedFrom) return `${volume} was attached to no instance: nothing to release.\n`;
  const verb = result.forced ? 'Force-detached' : 'Released';
  return `${verb} ${volume} from ${result.releasedFrom} (${orDash(result.holderState)}).\n`;
}
