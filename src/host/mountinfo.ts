/** The kernel's mount table (/proc/self/mountinfo): parsing and the lookups the host layer needs. */
import fs from 'node:fs/promises';
import path from 'node:path';

export const MOUNTINFO_PATH = '/proc/self/mountinfo';

export interface MountEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Path inside the filesystem that is mounted (a bind mount of a subdirectory shows it here). */
  root: string;
  mountPoint: string;
  mountOptions: string;
  /** Propagation tags such as "shared:12" or "master:3". */
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfoLine(line: string): MountEntry | undefined {
  const fields = line.trim().split(' ');
  const separator = fields.indexOf('-', 6);
  if (separator < 0 || fields.length < separator + 3) return undefined;
  const [mountId, parentId, majorMinor, root, mountPoint, mountOptions] = fields;
  const [major, minor] = majorMinor.split(':').map(Number);
  if (!Number.isInteger(major) || !Number.isInteger(minor)) return undefined;
  return {
    mountId: Number(mountId),
    parentId: Number(parentId),
    major,
    minor,
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    mountOptions,
    optionalFields: fields.slice(6, separator),
    fsType: unescapeMountField(fields[separator + 1]),
    source: unescapeMountField(fields[separator + 2]),
    superOptions: fields[separator + 3] ?? '',
  };
}

export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = parseMountInfoLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

export async function readMountInfo(file = MOUNTINFO_PATH): Promise<MountEntry[]> {
  return parseMountInfo(await fs.readFile(file, 'utf8'));
}

function normalise(dir: string): string {
  return path.resolve(dir);
}

/** The mount visible at target: the last one listed there, since later mounts stack on earlier ones. */
export function mountAt(entries: MountEntry[], target: string): MountEntry | undefined {
  const wanted = normalise(target);
  let found: MountEntry | undefined;
  for (const entry of entries) if (entry.mountPoint === wanted) found = entry;
  return found;
}

/** Mounts strictly below dir (not dir itself), in table order. */
export function mountsUnder(entries: MountEntry[], dir: string): MountEntry[] {
  const root = normalise(dir);
  const prefix = root === '/' ? '/' : `${root}/`;
  return entries.filter((entry) => entry.mountPoint !== root && entry.mountPoint.startsWith(prefix));
}

export function isShared(entry: MountEntry): boolean {
  return entry.optionalFields.some((field) => field.startsWith('shared:'));
}
