/** Where a berth volume is, seen from outside berth: the endpoint's records, the nodes' mount tables, the image file. */
import path from 'node:path';
import { runCommand } from '../support/commands';
import type { EndpointCall, EndpointVolume, SwarmEndpoint } from './endpoint';
import type { SwarmNode } from './node';

export const NAME_TAG = 'berth:name';
export const RETIRED_TAG = 'berth:retired';

/** Volumes berth serves under this name (its name tag, not retired). */
export async function liveVolumes(endpoint: SwarmEndpoint, name: string): Promise<EndpointVolume[]> {
  return (await endpoint.volumes()).filter((volume) => volume.tags[NAME_TAG] === name && volume.tags[RETIRED_TAG] === undefined);
}

export async function theVolume(endpoint: SwarmEndpoint, name: string): Promise<EndpointVolume> {
  const live = await liveVolumes(endpoint, name);
  if (live.length !== 1) throw new Error(`expected one live EBS volume named ${name}, found ${live.length}: ${live.map((volume) => volume.id).join(', ')}`);
  return live[0];
}

export async function volumeById(endpoint: SwarmEndpoint, id: string): Promise<EndpointVolume | undefined> {
  return (await endpoint.volumes()).find((volume) => volume.id === id);
}

/**
 * Where the volume is mounted in the node's mount namespace: berth mounts under the plugin's propagated mount, in the
 * node's data root. (Shared propagation may list one mount point twice, once shadowed: counted once.)
 */
export function mountsOf(node: SwarmNode, name: string): string[] {
  const points = node
    .mountinfo()
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${node.dataRoot}/`) && point.endsWith(`/propagated-mount/${name}`));
  return [...new Set(points)];
}

export function imageFile(endpoint: SwarmEndpoint, volumeId: string): string {
  return path.join(endpoint.dataDir, 'volumes', `${volumeId}.img`);
}

/** e2fsck -fn on the volume's backing file (read-only; the volume must be detached). */
export async function fsck(endpoint: SwarmEndpoint, volumeId: string): Promise<{ clean: boolean; output: string }> {
  const out = await runCommand('e2fsck', ['-fn', imageFile(endpoint, volumeId)], { timeoutMs: 60_000 });
  return { clean: out.code === 0, output: `${out.stdout}${out.stderr}` };
}

/** A file of the volume's filesystem, read from its backing file without mounting it. */
export async function readFromImage(endpoint: SwarmEndpoint, volumeId: string, file: string): Promise<string> {
  const out = await runCommand('debugfs', ['-R', `cat ${file}`, imageFile(endpoint, volumeId)], { timeoutMs: 60_000 });
  if (out.code !== 0) throw new Error(`debugfs cat ${file}: ${out.stderr}`);
  return out.stdout;
}

/** EC2 calls per action, e.g. { AttachVolume: 1, DescribeVolumes: 4 }. */
export function countByAction(calls: EndpointCall[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call.action] = (counts[call.action] ?? 0) + 1;
  return counts;
}
