/**
 * A CreateVolumeRequest as berth's `docker volume create` options: the parameters are those options as they are;
 * the capacity range, the capability's filesystem and a snapshot source add `size`, `fstype` and `snapshot`.
 * Everything refused here is refused before any volume is made.
 */
import { quote } from '../common/text';
import { GIB } from './answers';
import { fsTypeOf, requireServable } from './capabilities';
import { list, nested, requiredText, stringMap, text, whole, type Message } from './fields';
import { CsiRefusal, invalidArgument, status } from './status';

/** What the caller allows for the size, in bytes (0: no bound). */
export interface CapacityBounds {
  requiredBytes: number;
  limitBytes: number;
}

export interface CreateCall {
  name: string;
  options: Record<string, string>;
  /** Given when the request had a capacity range. */
  bounds?: CapacityBounds;
  /** Echoed in the answer's volume, as the spec asks. */
  contentSource?: Message;
}

/** Option keys as berth reads them: case-insensitive, trimmed, aliases included. */
const SPELLINGS = { size: ['size'], fstype: ['fstype'], snapshot: ['snapshot', 'snapshotid'] } as const;

function givenOption(options: Record<string, string>, option: keyof typeof SPELLINGS): string | undefined {
  return Object.keys(options).find((candidate) => (SPELLINGS[option] as readonly string[]).includes(candidate.trim().toLowerCase()));
}

export function createCall(request: Message): CreateCall {
  const name = requiredText(request, 'name');
  const capabilities = list(request, 'volume_capabilities');
  if (capabilities.length === 0) throw invalidArgument('volume_capabilities is required');
  const servable = capabilities.map((capability, index) => requireServable(capability, `volume_capabilities[${index}]`));
  const options = stringMap(request, 'parameters');

  const bounds = capacityBounds(request);
  if (bounds) {
    const sizeKey = givenOption(options, 'size');
    if (sizeKey !== undefined) throw invalidArgument(`give the size once: the parameter ${quote(sizeKey, 40)} or capacity_range, not both`);
    options.size = String(sizeGiBFor(bounds));
  }
  addFsType(options, servable);
  const contentSource = addSnapshot(options, nested(request, 'volume_content_source'));
  return { name, options, bounds, contentSource };
}

/** The capacity range, when it bounds anything (a range of zeros is as good as none). */
function capacityBounds(request: Message): CapacityBounds | undefined {
  const range = nested(request, 'capacity_range');
  if (!range) return undefined;
  const requiredBytes = whole(range, 'required_bytes');
  const limitBytes = whole(range, 'limit_bytes');
  if (requiredBytes < 0 || limitBytes < 0) throw invalidArgument('capacity_range: required_bytes and limit_bytes must not be negative');
  if (requiredBytes === 0 && limitBytes === 0) return undefined;
  return { requiredBytes, limitBytes };
}

/** Whole GiB (EBS sizes), at least 1, no smaller than required; OUT_OF_RANGE when that exceeds the limit. */
export function sizeGiBFor({ requiredBytes, limitBytes }: CapacityBounds): number {
  const sizeGiB = Math.max(1, Math.ceil(requiredBytes / GIB));
  if (limitBytes > 0 && sizeGiB * GIB > limitBytes) {
    const asked = requiredBytes > 0 ? `required_bytes ${requiredBytes} rounds up to ${sizeGiB} GiB` : `the smallest volume is ${sizeGiB} GiB`;
    throw new CsiRefusal(status.OUT_OF_RANGE, `capacity_range: ${asked} (${sizeGiB * GIB} bytes), more than limit_bytes ${limitBytes}: EBS volumes are whole GiB`);
  }
  return sizeGiB;
}

/** Whether an existing volume of that size satisfies the range (CreateVolume of an existing name). */
export function fitsBounds(sizeGiB: number, { requiredBytes, limitBytes }: CapacityBounds): boolean {
  const bytes = sizeGiB * GIB;
  return bytes >= requiredBytes && (limitBytes === 0 || bytes <= limitBytes);
}

function addFsType(options: Record<string, string>, capabilities: Message[]): void {
  const asked = [...new Set(capabilities.map(fsTypeOf).filter((fsType) => fsType !== ''))];
  if (asked.length > 1) throw invalidArgument(`volume_capabilities ask for different filesystems: ${asked.map((fsType) => quote(fsType, 40)).join(', ')}`);
  if (asked.length === 0) return;
  const key = givenOption(options, 'fstype');
  if (key === undefined) {
    options.fstype = asked[0];
  } else if (options[key].trim().toLowerCase() !== asked[0].toLowerCase()) {
    throw invalidArgument(`the parameter ${quote(key, 40)}=${quote(options[key], 40)} and the capability's fs_type ${quote(asked[0], 40)} disagree`);
  }
}

/** A snapshot source becomes berth's `snapshot` option; cloning a volume is not offered. */
function addSnapshot(options: Record<string, string>, source: Message | undefined): Message | undefined {
  if (!source) return undefined;
  if (nested(source, 'volume')) throw invalidArgument('volume_content_source: berth does not clone volumes; create from a snapshot instead');
  const snapshot = nested(source, 'snapshot');
  if (!snapshot) return undefined;
  const snapshotId = requiredText(snapshot, 'snapshot_id', 'volume_content_source.snapshot.snapshot_id');
  const key = givenOption(options, 'snapshot');
  if (key !== undefined && options[key].trim() !== snapshotId) {
    throw invalidArgument(`the parameter ${quote(key, 40)} and volume_content_source name different snapshots`);
  }
  if (key === undefined) options.snapshot = snapshotId;
  return { snapshot: { snapshot_id: snapshotId } };
}
