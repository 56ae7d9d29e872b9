/**
 * The host side of simulated EBS: sparse backing files, loop devices, the device links an instance sees,
 * and fencing (finding every mount of a loop device in any mount namespace and shutting its filesystem down).
 * Every command runs with an argument array and a time limit.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const COMMAND_TIMEOUT_MS = 60_000;
const GiB = 1024 ** 3;

async function run(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' });
  return stdout;
}

export function volumeFile(dataDir: string, volumeId: string): string {
  return path.join(dataDir, 'volumes', `${volumeId}.img`);
}

export function snapshotFile(dataDir: string, snapshotId: string): string {
  return path.join(dataDir, 'snapshots', `${snapshotId}.img`);
}

/** A new sparse file of the given size: costs no space until written. */
export async function createSparseFile(file: string, sizeGiB: number): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.truncate(sizeGiB * GiB);
  } catch (err) {
    await handle.close();
    await fs.rm(file, { force: true });
    throw err;
  }
  await handle.close();
}

/** Grows a file (never shrinks it). */
export async function growFile(file: string, sizeGiB: number): Promise<void> {
  const { size } = await fs.stat(file);
  if (size < sizeGiB * GiB) await fs.truncate(file, sizeGiB * GiB);
}

/** Copies keeping holes, through a temporary name so a half copy is never taken for a whole one. */
export async function copySparse(from: string, to: string): Promise<void> {
  const temp = `${to}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await run('cp', ['--sparse=always', from, temp]);
    await fs.rename(temp, to);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

export async function removeFile(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}

/** Binds the file to a free loop device; retried a few times, as concurrent users may race for the same free device. */
export async function attachLoop(file: string): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const device = (await run('losetup', ['--find', '--show', '--direct-io=off', file])).trim();
      if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup gave an unexpected device name: ${JSON.stringify(device)}`);
      return device;
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/** Makes the loop device pick up its backing file's new size. */
export async function refreshLoop(device: string): Promise<void> {
  await run('losetup', ['-c', device]);
}

/** The file a loop device is bound to, undefined when it is unbound or gone (" (deleted)" suffix kept). */
export async function loopBackingFile(device: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(`/sys/block/${path.basename(device)}/loop/backing_file`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export async function isLoopBoundTo(device: string, file: string): Promise<boolean> {
  const backing = await loopBackingFile(device);
  if (backing === undefined) return false;
  return backing === file || backing === `${file} (deleted)`;
}

export async function detachLoop(device: string): Promise<void> {
  await run('losetup', ['-d', device]);
}

export interface LoopDevice {
  device: string;
  backingFile: string;
}

export async function listLoopDevices(): Promise<LoopDevice[]> {
  const found: LoopDevice[] = [];
  for (const name of await fs.readdir('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    const backingFile = await loopBackingFile(`/dev/${name}`);
    if (backingFile !== undefined) found.push({ device: `/dev/${name}`, backingFile: backingFile.replace(/ \(deleted\)$/, '') });
  }
  return found;
}

/** Creates or replaces `link` -> `target` atomically (symlink under a temporary name, then rename). */
export async function placeLink(link: string, target: string): Promise<void> {
  await fs.mkdir(path.dirname(link), { recursive: true });
  const temp = path.join(path.dirname(link), `.${path.basename(link)}.${randomBytes(4).toString('hex')}.tmp`);
  await fs.symlink(target, temp);
  try {
    await fs.rename(temp, link);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

export async function linkTarget(link: string): Promise<string | undefined> {
  try {
    return await fs.readlink(link);
  } catch {
    return undefined;
  }
}

/** Removes a symbolic link; never anything else. */
export async function removeLink(link: string): Promise<boolean> {
  try {
    const stat = await fs.lstat(link);
    if (!stat.isSymbolicLink()) return false;
    await fs.unlink(link);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export interface MountRef {
  pid: number;
  /** The mount point as seen inside the process's mount namespace. */
  mountPoint: string;
  /** The same mount point reached from here, through the process's root. */
  reachableAt: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Every mount of the device in every mount namespace on the machine (one entry per namespace and mount point). */
export async function findMounts(device: string): Promise<MountRef[]> {
  let majorMinor: string;
  try {
    majorMinor = (await fs.readFile(`/sys/block/${path.basename(device)}/dev`, 'utf8')).trim();
  } catch {
    return [];
  }
  const seenNamespaces = new Set<string>();
  const mounts: MountRef[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let namespace: string;
    let mountinfo: string;
    try {
      namespace = await fs.readlink(`/proc/${entry}/ns/mnt`);
      if (seenNamespaces.has(namespace)) continue;
      mountinfo = await fs.readFile(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue; // the process went away or is not ours to look at
    }
    seenNamespaces.add(namespace);
    for (const line of mountinfo.split('\n')) {
      const fields = line.split(' ');
      if (fields[2] !== majorMinor) continue;
      const mountPoint = unescapeMountPath(fields[4]);
      mounts.push({ pid: Number(entry), mountPoint, reachableAt: path.join(`/proc/${entry}/root`, mountPoint) });
    }
  }
  return mounts;
}

/**
 * Shuts the filesystem down (FS_IOC_GOINGDOWN, honoured by xfs and ext4) without flushing its log, as if
 * its disk vanished: every later read or write on that mount fails with EIO.
 */
export async function shutdownFilesystem(mount: MountRef): Promise<void> {
  await run('xfs_io', ['-x', '-c', 'shutdown', mount.reachableAt]);
}
