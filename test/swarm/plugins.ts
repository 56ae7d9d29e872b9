/**
 * berth's two managed plugins as the swarm installs them: berth/ebs (classic volumes) and, when asked, berth/ebs-csi
 * (Swarm cluster volumes, Docker 28 and later), both from one plugin directory, pushed once to the run's registry
 * and installed on every node with the same settings, as users install them.
 */
import path from 'node:path';
import { runCommandOk } from '../support/commands';
import { waitFor } from '../support/poll';
import { REPO } from '../e2e/plugin-harness';
import type { SwarmNode } from './node';

export const REGISTRY_PORT = 5000;

export interface PluginKind {
  /** The alias every node installs it under, e.g. berth/ebs. */
  name: string;
  /** What services and volumes name as their driver, and what the manager lists for the node. */
  ref: string;
}

export const CLASSIC: PluginKind = { name: 'berth/ebs', ref: 'berth/ebs:latest' };
export const CSI: PluginKind = { name: 'berth/ebs-csi', ref: 'berth/ebs-csi:latest' };

/** `node plugin/csi-plugin.mjs --from <dir> --out <dir>-csi` (the classic rootfs hard-linked: a second or two). */
export async function buildCsiPluginDir(classicDir: string): Promise<string> {
  const out = `${classicDir}-csi`;
  await runCommandOk(process.execPath, [path.join(REPO, 'plugin/csi-plugin.mjs'), '--from', classicDir, '--out', out], { timeoutMs: 5 * 60_000 });
  return out;
}

function registryRef(kind: PluginKind, version: string): string {
  return `127.0.0.1:${REGISTRY_PORT}/${kind.name}:${version}`;
}

/** docker plugin create + push from one node under <registry>/<name>:<version>; the local copy is removed. */
export async function pushPlugin(node: SwarmNode, kind: PluginKind, dir: string, version: string): Promise<void> {
  const ref = registryRef(kind, version);
  await node.dockerOk(['plugin', 'create', ref, dir], { timeoutMs: 5 * 60_000 });
  try {
    await node.dockerOk(['plugin', 'push', ref], { timeoutMs: 5 * 60_000 });
  } finally {
    await node.docker(['plugin', 'rm', '--force', ref]);
  }
}

/** `docker plugin install --grant-all-permissions --alias <name> <registry ref> KEY=VALUE...`; returns the plugin id. */
export async function installPlugin(node: SwarmNode, kind: PluginKind, version: string, settings: Record<string, string>): Promise<string> {
  const pairs = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
  await node.dockerOk(['plugin', 'install', '--grant-all-permissions', '--alias', kind.name, registryRef(kind, version), ...pairs], { timeoutMs: 5 * 60_000 });
  return (await node.dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', kind.name])).trim();
}

/**
 * Swarm places a task only on nodes that reported what it needs: a volume driver among the engine's plugins, or, for
 * a cluster volume, the CSI plugin's node info (its NodeGetInfo, which a node's dockerd asks for some seconds after
 * it joined, then every 20 s).
 */
export async function waitUntilReported(manager: SwarmNode, node: SwarmNode, kind: PluginKind, timeoutMs = 60_000): Promise<void> {
  const field = kind === CSI ? '{{json .Description.CSIInfo}}' : '{{json .Description.Engine.Plugins}}';
  const reported = async () => (await manager.dockerOk(['node', 'inspect', '--format', field, node.id])).includes(`"${kind.ref}"`);
  await waitFor(`${node.id} to report ${kind.ref} to the manager`, reported, { timeoutMs, intervalMs: 500 });
}
