/** Builds the managed plugin directory and installs it into a private dockerd, the way `make plugin enable` does. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand, runCommandOk } from '../support/commands';
import type { Dockerd } from '../support/dockerd';

export const REPO = path.resolve(__dirname, '../..');
export const PLUGIN_DIR = path.join(REPO, 'build/plugin');

export interface BuiltPlugin {
  dir: string;
  rebuilt: boolean;
  rootfsBytes: number;
  seconds: number;
}

/**
 * `node plugin/assemble.mjs --if-stale`: reuses build/plugin when it was built from the same sources, manifest,
 * lockfile and plugin scripts. A first build fetches the Node.js runtime with npm and may take a few minutes.
 */
export async function buildPluginDir(timeoutMs = 15 * 60_000): Promise<BuiltPlugin> {
  const args = [path.join(REPO, 'plugin/assemble.mjs'), '--out', PLUGIN_DIR, '--if-stale', '--json'];
  const out = await runCommand(process.execPath, args, { timeoutMs });
  if (out.code !== 0) throw new Error(`plugin build failed (${out.timedOut ? 'timed out' : `exit ${out.code}`}):\n${out.stderr}${out.stdout}`);
  const last = out.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as BuiltPlugin;
}

export interface InstalledPlugin {
  name: string;
  id: string;
  createMs: number;
  enableMs: number;
}

/** docker plugin create, set (while disabled), enable --timeout 120; measures create and enable. */
export async function installPlugin(
  dockerd: Dockerd,
  name: string,
  dir: string,
  settings: Record<string, string>,
): Promise<InstalledPlugin> {
  let started = Date.now();
  await dockerd.dockerOk(['plugin', 'create', name, dir], { timeoutMs: 5 * 60_000 });
  const createMs = Date.now() - started;
  const pairs = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
  if (pairs.length > 0) await dockerd.dockerOk(['plugin', 'set', name, ...pairs]);
  started = Date.now();
  await dockerd.dockerOk(['plugin', 'enable', '--timeout', '120', name], { timeoutMs: 150_000 });
  const enableMs = Date.now() - started;
  const id = (await dockerd.dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', name])).trim();
  return { name, id, createMs, enableMs };
}

/** Best-effort removal for afterAll: every volume of the plugin, then the plugin itself (forced). */
export async function removePlugin(dockerd: Dockerd, name: string): Promise<string[]> {
  const problems: string[] = [];
  const volumes = await dockerd.docker(['volume', 'ls', '--quiet', '--filter', `driver=${name}`]);
  for (const volume of volumes.stdout.split('\n').filter(Boolean)) {
    const out = await dockerd.docker(['volume', 'rm', '--force', volume], { timeoutMs: 150_000 });
    if (out.code !== 0) problems.push(`volume rm ${volume}: ${out.stderr.trim()}`);
  }
  const known = await dockerd.docker(['plugin', 'inspect', name]);
  if (known.code === 0) {
    const disabled = await dockerd.docker(['plugin', 'disable', '--force', name], { timeoutMs: 60_000 });
    if (disabled.code !== 0 && !/already disabled/.test(disabled.stderr)) problems.push(`plugin disable: ${disabled.stderr.trim()}`);
    const removed = await dockerd.docker(['plugin', 'rm', '--force', name], { timeoutMs: 60_000 });
    if (removed.code !== 0) problems.push(`plugin rm: ${removed.stderr.trim()}`);
  }
  return problems;
}

/** The lines of the dockerd log written by the plugin (its stdout and stderr), for failure messages. */
export function pluginLog(dockerd: Dockerd, pluginId: string, lines = 60): string {
  return dockerd
    .log()
    .split('\n')
    .filter((line) => line.includes(`plugin=${pluginId}`))
    .slice(-lines)
    .join('\n');
}

/** Best-effort removal for afterAll: every container of the engine, forced (their volumes can then be removed). */
export async function removeAllContainers(dockerd: Dockerd): Promise<string[]> {
  const ids = (await dockerd.docker(['ps', '--all', '--quiet'])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const out = await dockerd.docker(['rm', '--force', '--volumes', ...ids], { timeoutMs: 150_000 });
  return out.code === 0 ? [] : [`docker rm: ${out.stderr.trim()}`];
}

/**
 * Another build of the plugin for `docker plugin upgrade`: the same rootfs (hard-linked, so nothing is copied) plus a
 * file /berth/BUILD naming the build, with a manifest whose description says which build it is. (The rootfs must
 * differ: Docker 20.10's `plugin create` fails with "content ... already exists" for a layer an installed plugin has.)
 */
export async function derivedPluginDir(source: string, target: string, description: string, build: string): Promise<string> {
  fs.mkdirSync(target, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(source, 'config.json'), 'utf8')) as { description: string };
  manifest.description = description;
  fs.writeFileSync(path.join(target, 'config.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const out = await runCommand('cp', ['-al', path.join(source, 'rootfs'), path.join(target, 'rootfs')], { timeoutMs: 120_000 });
  if (out.code !== 0) throw new Error(`cp -al ${source}/rootfs: ${out.stderr}`);
  fs.writeFileSync(path.join(target, 'rootfs/berth/BUILD'), `${build}\n`);
  return target;
}

/** docker plugin create REF DIR, push REF (a registry reference), then remove the local copy. */
export async function pushPlugin(dockerd: Dockerd, dir: string, ref: string): Promise<void> {
  await dockerd.dockerOk(['plugin', 'create', ref, dir], { timeoutMs: 5 * 60_000 });
  try {
    await dockerd.dockerOk(['plugin', 'push', ref], { timeoutMs: 5 * 60_000 });
  } finally {
    await dockerd.docker(['plugin', 'rm', '--force', ref]);
  }
}

/**
 * The managed plugin directory of an earlier commit, built the way that commit builds it: a git worktree of it in a
 * temp dir with its own node_modules (npm ci there), `make plugin-rootfs`, the worktree removed again. Kept in
 * build/previous-release/<commit>/plugin for the next run.
 */
export async function pluginDirOfCommit(commit: string): Promise<{ dir: string; seconds: number }> {
  const started = Date.now();
  const full = (await runCommandOk('git', ['-C', REPO, 'rev-parse', '--verify', `${commit}^{commit}`])).trim();
  const dir = path.join(REPO, 'build/previous-release', full, 'plugin');
  if (fs.existsSync(path.join(dir, 'config.json'))) return { dir, seconds: (Date.now() - started) / 1000 };
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-previous-'));
  const tree = path.join(temp, 'tree');
  const staging = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // npm's own variables (set by npx and npm run) would point npm ci at this checkout instead of the worktree.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  try {
    await runCommandOk('git', ['-C', REPO, 'worktree', 'add', '--detach', tree, full], { timeoutMs: 120_000 });
    await runCommandOk('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, env, timeoutMs: 10 * 60_000 });
    await runCommandOk('make', ['plugin-rootfs', `PLUGIN_DIR=${staging}`], { cwd: tree, env, timeoutMs: 15 * 60_000 });
    fs.renameSync(staging, dir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    await runCommand('git', ['-C', REPO, 'worktree', 'remove', '--force', tree], { timeoutMs: 120_000 });
    fs.rmSync(temp, { recursive: true, force: true });
    await runCommand('git', ['-C', REPO, 'worktree', 'prune']);
  }
  return { dir, seconds: (Date.now() - started) / 1000 };
}
