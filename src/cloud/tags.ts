/**
 * berth's tag conventions on EBS volumes and snapshots. Every berth key starts with `berth:`.
 *
 *   Name               `[<EBS_TAG>/]<name>`  (REX-Ray's own convention, kept so the console and REX-Ray agree)
 *   berth:namespace    EBS_TAG, or "default" when EBS_TAG is empty; marks berth's ownership
 *   berth:name         the Docker volume name
 *   berth:fsType       ext4 | xfs
 *   berth:mkfsOptions  JSON array of the validated mkfs arguments, e.g. ["-b","4096"]
 *   berth:uid, berth:gid, berth:mode   owner and octal mode ("0755") of the data directory
 *   berth:unformatted  "true" until berth has run mkfs; the only state in which berth may format
 *   berth:generation   the ClientToken generation the volume was created with (1, 2, ...)
 *   berth:retired      `<reason> <name> <ISO time>`, set when a volume is retired (removed with the "retain" policy,
 *                      or moved); berth:namespace and berth:name are then removed, so the name is free again
 *
 * A volume that has REX-Ray's Name tag and no berth tag is a REX-Ray volume: berth serves it only with
 * EBS_ADOPTREXRAY, as already formatted, and never formats it.
 */
import type { Filter, Tag, TagSpecification, Volume } from '@aws-sdk/client-ec2';
import { ValidationError } from '../common/errors';
import type { Attachment, AttachmentState, CloudVolume, CreateVolumeSpec, FormatSpec, FsType, VolumeState } from './types';

export const BERTH_PREFIX = 'berth:';

export const TAGS = {
  name: 'Name',
  namespace: 'berth:namespace',
  volumeName: 'berth:name',
  fsType: 'berth:fsType',
  mkfsOptions: 'berth:mkfsOptions',
  uid: 'berth:uid',
  gid: 'berth:gid',
  mode: 'berth:mode',
  unformatted: 'berth:unformatted',
  generation: 'berth:generation',
  retired: 'berth:retired',
  crossAZ: 'berth:crossAZ',
  movedFrom: 'berth:movedFrom',
} as const;

export const DEFAULT_NAMESPACE = 'default';

export function namespaceOf(ebsTag: string): string {
  return ebsTag || DEFAULT_NAMESPACE;
}

/** REX-Ray's Name tag: `<tag>/<name>`, or just `<name>` without EBS_TAG. */
export function nameTagValue(ebsTag: string, name: string): string {
  return ebsTag ? `${ebsTag}/${name}` : name;
}

/** The Docker name inside a REX-Ray Name tag of this namespace, or undefined when it belongs elsewhere. */
export function nameFromNameTag(ebsTag: string, nameTag: string): string | undefined {
  if (!ebsTag) return nameTag.includes('/') || nameTag === '' ? undefined : nameTag;
  const prefix = `${ebsTag}/`;
  const rest = nameTag.startsWith(prefix) ? nameTag.slice(prefix.length) : '';
  return rest === '' || rest.includes('/') ? undefined : rest;
}

function reservedTagKey(key: string): boolean {
  return key === TAGS.name || key.startsWith(BERTH_PREFIX) || key.toLowerCase().startsWith('aws:');
}

export function formatModeTag(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** Every tag a new volume carries; user tags may not override berth's or AWS's. */
export function volumeTags(spec: CreateVolumeSpec, ebsTag: string, generation: number): Tag[] {
  for (const key of Object.keys(spec.extraTags)) {
    if (reservedTagKey(key)) {
      throw new ValidationError('tags', `tag key "${key}" is reserved (Name, berth:* and aws:* are set by berth or AWS)`);
    }
  }
  const { format } = spec;
  const tags: Record<string, string> = {
    ...spec.extraTags,
    [TAGS.name]: nameTagValue(ebsTag, spec.name),
    [TAGS.namespace]: namespaceOf(ebsTag),
    [TAGS.volumeName]: spec.name,
    [TAGS.fsType]: format.fsType,
    [TAGS.generation]: String(generation),
  };
  // A volume made from a snapshot holds the snapshot's data: it is never formatted.
  if (!spec.snapshotId) tags[TAGS.unformatted] = 'true';
  if (spec.crossAZ === 'snapshot') tags[TAGS.crossAZ] = 'snapshot';
  if (format.mkfsOptions.length > 0) tags[TAGS.mkfsOptions] = JSON.stringify(format.mkfsOptions);
  if (format.uid !== undefined) tags[TAGS.uid] = String(format.uid);
  if (format.gid !== undefined) tags[TAGS.gid] = String(format.gid);
  if (format.mode !== undefined) tags[TAGS.mode] = formatModeTag(format.mode);
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function volumeTagSpecifications(spec: CreateVolumeSpec, ebsTag: string, generation: number): TagSpecification[] {
  return [{ ResourceType: 'volume', Tags: volumeTags(spec, ebsTag, generation) }];
}

export function snapshotTagSpecifications(name: string, ebsTag: string, volumeId: string, extraTags: Record<string, string> = {}): TagSpecification[] {
  return [
    {
      ResourceType: 'snapshot',
      Tags: [
        { Key: TAGS.name, Value: nameTagValue(ebsTag, name) },
        { Key: TAGS.namespace, Value: namespaceOf(ebsTag) },
        { Key: TAGS.volumeName, Value: name },
        { Key: 'berth:sourceVolume', Value: volumeId },
        ...Object.entries(extraTags).map(([Key, Value]) => ({ Key, Value })),
      ],
    },
  ];
}

/** The tags of a volume moved to another zone: its own, less the unformatted marker and AWS's. */
export function movedVolumeTags(volume: CloudVolume): Tag[] {
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(volume.tags)) {
    if (key === TAGS.unformatted || key === TAGS.retired || key.toLowerCase().startsWith('aws:')) continue;
    tags[key] = value;
  }
  tags[TAGS.movedFrom] = volume.volumeId;
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** Filters as a call's description names them: `tag:berth:namespace=db volume-id=vol-1|vol-2`. */
export function describeFilters(filters: Filter[]): string {
  return filters.map((filter) => `${filter.Name}=${(filter.Values ?? []).join('|')}`).join(' ');
}

/** Every berth volume of this namespace. */
export function namespaceFilters(ebsTag: string): Filter[] {
  return [{ Name: `tag:${TAGS.namespace}`, Values: [namespaceOf(ebsTag)] }];
}

/** The berth volume(s) of this namespace with this Docker name. */
export function nameFilters(ebsTag: string, name: string): Filter[] {
  return [...namespaceFilters(ebsTag), { Name: `tag:${TAGS.volumeName}`, Values: [name] }];
}

/** Candidates for a REX-Ray volume with this name (berth-tagged ones are dropped afterwards). */
export function rexrayNameFilters(ebsTag: string, name: string): Filter[] {
  return [{ Name: `tag:${TAGS.name}`, Values: [nameTagValue(ebsTag, name)] }];
}

/** Candidates for every REX-Ray volume of this namespace. */
export function rexrayNamespaceFilters(ebsTag: string): Filter[] {
  return ebsTag ? [{ Name: `tag:${TAGS.name}`, Values: [`${ebsTag}/*`] }] : [{ Name: 'tag-key', Values: [TAGS.name] }];
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const { Key, Value } of tags ?? []) if (Key !== undefined) map[Key] = Value ?? '';
  return map;
}

export function hasBerthTags(tags: Record<string, string>): boolean {
  return Object.keys(tags).some((key) => key.startsWith(BERTH_PREFIX));
}

function parseInteger(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

function parseMode(text: string | undefined): number | undefined {
  if (text === undefined || !/^0?[0-7]{3,4}$/.test(text)) return undefined;
  return parseInt(text, 8);
}

function parseMkfsOptions(text: string | undefined): string[] {
  if (!text) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed;
  } catch {
    // Written by hand in the console: accept whitespace-separated arguments.
  }
  return text.split(/\s+/).filter(Boolean);
}

function parseFsType(text: string | undefined, fallback: FsType): FsType {
  return text === 'ext4' || text === 'xfs' ? text : fallback;
}

function formatFromTags(tags: Record<string, string>, fallbackFsType: FsType): FormatSpec {
  const format: FormatSpec = {
    fsType: parseFsType(tags[TAGS.fsType], fallbackFsType),
    mkfsOptions: parseMkfsOptions(tags[TAGS.mkfsOptions]),
  };
  const uid = parseInteger(tags[TAGS.uid]);
  const gid = parseInteger(tags[TAGS.gid]);
  const mode = parseMode(tags[TAGS.mode]);
  if (uid !== undefined) format.uid = uid;
  if (gid !== undefined) format.gid = gid;
  if (mode !== undefined) format.mode = mode;
  return format;
}

function toAttachments(volume: Volume): Attachment[] {
  return (volume.Attachments ?? [])
    .filter((attachment) => attachment.InstanceId)
    .map((attachment) => ({
      instanceId: attachment.InstanceId as string,
      device: attachment.Device ?? '',
      state: (attachment.State ?? 'attaching') as AttachmentState,
    }));
}

export interface ParseOptions {
  ebsTag: string;
  /** fsType assumed for a REX-Ray volume (REXRAY_FSTYPE); berth never formats it. */
  defaultFsType: FsType;
}

/**
 * Reads an EC2 volume the way berth sees it. A volume with berth tags is berth's; one with only
 * a Name tag is REX-Ray's (already formatted). Whether it belongs to this namespace is `belongsTo`'s job.
 */
export function toCloudVolume(volume: Volume, { ebsTag, defaultFsType }: ParseOptions): CloudVolume {
  const tags = tagMap(volume.Tags);
  const berth = hasBerthTags(tags);
  const nameTag = tags[TAGS.name] ?? '';
  const name = berth ? (tags[TAGS.volumeName] ?? '') : (nameFromNameTag(ebsTag, nameTag) ?? nameTag);
  const cloudVolume: CloudVolume = {
    volumeId: volume.VolumeId ?? '',
    name,
    sizeGiB: volume.Size ?? 0,
    volumeType: volume.VolumeType ?? '',
    encrypted: volume.Encrypted ?? false,
    availabilityZone: volume.AvailabilityZone ?? '',
    state: (volume.State ?? 'creating') as VolumeState,
    createTime: volume.CreateTime ?? new Date(0),
    attachments: toAttachments(volume),
    tags,
    owner: berth ? 'berth' : 'rexray',
    format: berth ? formatFromTags(tags, defaultFsType) : { fsType: defaultFsType, mkfsOptions: [] },
    unformatted: berth && tags[TAGS.unformatted] === 'true',
    crossAZ: berth && tags[TAGS.crossAZ] === 'snapshot' ? 'snapshot' : 'refuse',
  };
  if (volume.Iops !== undefined) cloudVolume.iops = volume.Iops;
  if (volume.Throughput !== undefined) cloudVolume.throughput = volume.Throughput;
  if (volume.KmsKeyId) cloudVolume.kmsKeyId = volume.KmsKeyId;
  if (volume.SnapshotId) cloudVolume.snapshotId = volume.SnapshotId;
  return cloudVolume;
}

export function isRetired(volume: CloudVolume): boolean {
  return volume.tags[TAGS.retired] !== undefined;
}

export function isGone(volume: CloudVolume): boolean {
  return volume.state === 'deleting' || volume.state === 'deleted';
}

/**
 * Whether berth serves this volume in this namespace: a live, unretired berth volume of the namespace,
 * or (with adoptRexray) a REX-Ray volume whose Name tag lies in the namespace and that has no berth tag.
 */
export function belongsTo(volume: CloudVolume, ebsTag: string, adoptRexray: boolean): boolean {
  if (isGone(volume)) return false;
  if (volume.owner === 'berth') {
    return volume.tags[TAGS.namespace] === namespaceOf(ebsTag) && volume.name !== '' && !isRetired(volume);
  }
  return adoptRexray && nameFromNameTag(ebsTag, volume.tags[TAGS.name] ?? '') !== undefined;
}

/** Oldest first, then by id: every host picks the same volume among duplicates. */
export function oldestFirst(a: CloudVolume, b: CloudVolume): number {
  return a.createTime.getTime() - b.createTime.getTime() || a.volumeId.localeCompare(b.volumeId);
}
