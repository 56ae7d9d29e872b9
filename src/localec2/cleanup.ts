/**
 * `local-ec2 cleanup --data-dir <dir>`: detaches every loop device bound to a file of this data dir and
 * removes every device link the endpoint made. It touches nothing else (no process, no mount, no other
 * loop device). The state keeps its attachments, so a restarted endpoint re-makes devices and links.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { detachLoop, linkTarget, listLoopDevices, removeLink } from './devices';
import { readState } from './state';

export interface CleanupReport {
  loopDevices: string[];
  links: string[];
}

const OUR_LINK_NAME = /^(xvd[a-z]+\d*|nvme-Amazon_Elastic_Block_Store_vol[0-9a-f]+)$/;

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fs.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Links named like ours and pointing at a loop device, anywhere under a device dir. */
async function findLinks(dir: string, depth = 0): Promise<string[]> {
  if (depth > 4 || !(await isDirectory(dir))) return [];
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await findLinks(full, depth + 1)));
    else if (entry.isSymbolicLink() && OUR_LINK_NAME.test(entry.name) && /^\/dev\/loop\d+$/.test((await linkTarget(full)) ?? '')) found.push(full);
  }
  return found;
}

export async function cleanupLocalEc2(dataDirGiven: string): Promise<CleanupReport> {
  const report: CleanupReport = { loopDevices: [], links: [] };
  if (!(await isDirectory(dataDirGiven))) return report;
  const dataDir = await fs.realpath(dataDirGiven);
  const state = readState(dataDir);

  const candidates = new Set<string>();
  const deviceDirs = new Set<string>();
  for (const entry of await fs.readdir(dataDir)) if (entry.startsWith('dev-')) deviceDirs.add(path.join(dataDir, entry));
  for (const instance of Object.values(state?.instances ?? {})) deviceDirs.add(instance.deviceDir);
  for (const volume of Object.values(state?.volumes ?? {})) if (volume.attachment?.link) candidates.add(volume.attachment.link);
  for (const dir of deviceDirs) for (const link of await findLinks(dir)) candidates.add(link);
  for (const link of candidates) if (await removeLink(link)) report.links.push(link);

  const ours = [path.join(dataDir, 'volumes') + path.sep, path.join(dataDir, 'snapshots') + path.sep];
  for (const loop of await listLoopDevices()) {
    if (!ours.some((prefix) => loop.backingFile.startsWith(prefix))) continue;
    await detachLoop(loop.device);
    report.loopDevices.push(loop.device);
  }
  return report;
}
