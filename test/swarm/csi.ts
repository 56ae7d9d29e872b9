/**
 * Swarm cluster volumes (berth/ebs-csi) seen from outside berth: Docker's record of them on the manager, berth's CSI
 * calls on a node, and what each node's CSI plugin has mounted. Swarm stages a volume at /data/staged/<swarm
 * volume id> and publishes it at /data/published/<id>, both inside the plugin; only the published path reaches the
 * node (through the plugin's propagated mount), so the staging mounts are read from the plugin's own mount table.
 */
import fs from 'node:fs';
import { waitFor } from '../support/poll';
import { processesInCgroup } from '../support/processes';
import type { Swarm } from './cluster';
import type { SwarmNode } from './node';
import { csiCalls, type PluginCall } from './plugin-log';
import { CSI } from './plugins';

/** What `docker volume inspect` shows of a cluster volume (the parts the tests read). */
export interface ClusterVolumeRecord {
  ID: string;
  Spec: { Availability: string };
  PublishStatus?: Array<{ NodeID: string; State: string }>;
  /** Set once the plugin's CreateVolume answered. */
  Info?: { VolumeID?: string };
}

export async function clusterVolume(swarm: Swarm, name: string): Promise<ClusterVolumeRecord | undefined> {
  const out = await swarm.manager.docker(['volume', 'inspect', '--format', '{{json .ClusterVolume}}', name]);
  if (out.code !== 0) {
    if (/no such volume|not found/i.test(out.stderr)) return undefined;
    throw new Error(`docker volume inspect ${name}: ${out.stderr.trim()}`);
  }
  return JSON.parse(out.stdout) as ClusterVolumeRecord;
}

/**
 * `docker volume create --driver berth/ebs-csi:latest --type mount --sharing onewriter --scope single
 * --required-bytes 1G [--opt K=V]... NAME` on the manager (it answers at once), then waits until Swarm has it made
 * by the plugin. Returns Swarm's id of it and how long that took.
 */
export async function createClusterVolume(swarm: Swarm, name: string, options: Record<string, string> = {}): Promise<{ swarmId: string; createdMs: number }> {
  const started = Date.now();
  const opts = Object.entries(options).flatMap(([key, value]) => ['--opt', `${key}=${value}`]);
  await swarm.manager.dockerOk(['volume', 'create', '--driver', CSI.ref, '--type', 'mount', '--sharing', 'onewriter', '--scope', 'single', '--required-bytes', '1G', ...opts, name]);
  const made = async () => {
    const record = await clusterVolume(swarm, name);
    return record?.Info?.VolumeID ? record : undefined;
  };
  const record = await waitFor(`${name} made by ${CSI.ref}`, made, { timeoutMs: 30_000, intervalMs: 100 });
  return { swarmId: record.ID, createdMs: Date.now() - started };
}

/**
 * `docker volume rm NAME` on the manager, again while Swarm refuses it because a node has not unpublished it yet
 * ("volume is still in use"), then waits until Swarm has forgotten it (after the plugin's DeleteVolume).
 */
export async function removeClusterVolume(swarm: Swarm, name: string, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  let refusal = '';
  const removed = async () => {
    const out = await swarm.manager.docker(['volume', 'rm', name]);
    refusal = out.stderr.trim();
    return out.code === 0;
  };
  await waitFor(`docker volume rm ${name} to be accepted`, removed, { timeoutMs, intervalMs: 250 }).catch((err: Error) => {
    throw new Error(`${err.message}: ${refusal}`);
  });
  await waitFor(`Swarm to forget ${name}`, async () => (await clusterVolume(swarm, name)) === undefined, { timeoutMs, intervalMs: 100 });
  return Date.now() - started;
}

/** The berth processes of the node's CSI plugin (they outlive a killed dockerd). */
function csiPluginPids(swarm: Swarm, node: SwarmNode): number[] {
  return processesInCgroup(swarm.pluginId(node, CSI), '/berth/cli.js');
}

/** Mount points under /data/staged/ and /data/published/ in the node's CSI plugin (its own mount namespace). */
export function csiPluginMounts(swarm: Swarm, node: SwarmNode): { staged: string[]; published: string[] } {
  const [pid] = csiPluginPids(swarm, node);
  if (pid === undefined) throw new Error(`${node.id}: no berth process of ${CSI.name} found`);
  const points = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((line) => line.split(' ')[4] ?? '');
  const under = (dir: string) => [...new Set(points.filter((point) => point.startsWith(dir)))];
  return { staged: under('/data/staged/'), published: under('/data/published/') };
}

/** Nodes whose CSI plugin stages or publishes the volume (by Swarm's id of it). */
export function nodesMounting(swarm: Swarm, swarmId: string): string[] {
  return swarm.nodes
    .filter((node) => {
      const { staged, published } = csiPluginMounts(swarm, node);
      return [...staged, ...published].some((point) => point.endsWith(`/${swarmId}`));
    })
    .map((node) => node.id);
}

/** The CSI calls berth made about the volume on that node since `from`. */
export function csiCallsOf(swarm: Swarm, node: SwarmNode, volume: string, from = 0): PluginCall[] {
  return csiCalls(node.log(), swarm.pluginId(node, CSI)).filter((call) => call.volume === volume && call.end >= from);
}
