/**
 * The benchmark's world: a private dockerd with a busybox image, the local EC2 endpoint (on loopback, with real
 * loop devices) and the managed plugin built once from this tree. Everything started is registered with a
 * Cleanup, which undoes it in reverse order even when a benchmark failed half-way.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildPluginDir, installPlugin, pluginLog, type BuiltPlugin } from '../test/e2e/plugin-harness';
import { runCommand } from '../test/support/commands';
import { importBusyboxImage, startDockerd, type Dockerd } from '../test/support/dockerd';
import { startLocalEc2, TEST_ACCESS_KEY, TEST_SECRET_KEY, type LocalEc2 } from '../test/support/local-ec2';
import { mountsUnder } from '../test/support/mounts';
import { waitFor } from '../test/support/poll';
import { PluginClient } from './plugin-client';

export const IMAGE = 'berth-bench/busybox:latest';

/** Undo steps, run last-in first-out; a failing step does not stop the others. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  async runAll(): Promise<string[]> {
    const problems: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (err) {
        problems.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
}

export interface Endpoint {
  ec2: LocalEc2;
  /** The simulated instance's device dir, under the host's /dev so the plugin sees it through its /dev mount. */
  devdir: string;
}

/** The local EC2 endpoint with one instance (m5.large: 26 data volume attachments). */
export async function startEndpoint(cleanup: Cleanup, label: string, delays?: string): Promise<Endpoint> {
  const devdir = `/dev/bt-bench-${label}-${crypto.randomBytes(3).toString('hex')}`;
  fs.mkdirSync(devdir);
  cleanup.add(`remove ${devdir}`, () => {
    const left = mountsUnder([devdir]);
    if (left.length > 0) throw new Error(`still mounted, kept: ${left.join(', ')}`);
    fs.rmSync(devdir, { recursive: true, force: true });
  });
  const ec2 = await startLocalEc2([`devdir=${devdir}`], delays ? ['--delays', delays] : []);
  cleanup.add(`local EC2 endpoint ${ec2.ec2} (stop, detach its loop devices, remove ${ec2.dataDir})`, () => ec2.destroy());
  return { ec2, devdir };
}

export async function startDocker(cleanup: Cleanup): Promise<Dockerd> {
  const dockerd = await startDockerd();
  cleanup.add(`private dockerd ${dockerd.id}`, () => dockerd.stop());
  // Containers first: a running container keeps its volume mounted, and the plugin in use.
  cleanup.add('containers', async () => {
    const ids = (await dockerd.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await dockerd.dockerOk(['rm', '-f', ...ids], { timeoutMs: 180_000 });
  });
  await importBusyboxImage(dockerd, IMAGE);
  return dockerd;
}

export function buildPlugin(): Promise<BuiltPlugin> {
  return buildPluginDir();
}

/**
 * A second plugin directory for a second plugin in the same dockerd: the same rootfs, hard-linked (nothing is
 * copied), plus one file naming the variant. Docker 20.10's `plugin create` refuses a rootfs layer an installed
 * plugin already has ("content ... already exists"), so the layer must differ.
 */
export async function variantPluginDir(cleanup: Cleanup, built: BuiltPlugin, variant: string): Promise<BuiltPlugin> {
  const dir = path.join(path.dirname(built.dir), `bench-plugin-${variant}`);
  fs.rmSync(dir, { recursive: true, force: true });
  cleanup.add(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(built.dir, 'config.json'), path.join(dir, 'config.json'));
  const copied = await runCommand('cp', ['-al', path.join(built.dir, 'rootfs'), path.join(dir, 'rootfs')], { timeoutMs: 120_000 });
  if (copied.code !== 0) throw new Error(`cp -al ${built.dir}/rootfs: ${copied.stderr.trim()}`);
  // A new file, not a changed one: every other file is a hard link into build/plugin.
  fs.writeFileSync(path.join(dir, 'rootfs/berth/BENCH_VARIANT'), `${variant}\n`);
  return { ...built, dir };
}

export interface Plugin {
  name: string;
  id: string;
  enableMs: number;
  createMs: number;
  /** The plugin's own socket, where Docker calls it. */
  socket: string;
  client: PluginClient;
  /** The plugin's daemon process on the host (found by its EC2 endpoint setting). */
  pid(): number;
  /** Every protocol call berth has logged so far (method, volume, time spent inside berth). */
  calls(): PluginCall[];
}

export interface PluginCall {
  /** When berth answered (ms since the epoch, from its log line). */
  at: number;
  method: string;
  volume?: string;
  durationMs: number;
  outcome: string;
}

export async function startPlugin(cleanup: Cleanup, dockerd: Dockerd, built: BuiltPlugin, name: string, endpoint: Endpoint): Promise<Plugin> {
  cleanup.add(`plugin ${name}`, () => removePluginQuickly(dockerd, name));
  const instance = endpoint.ec2.instances[0];
  const installed = await installPlugin(dockerd, name, built.dir, {
    EBS_ENDPOINT: endpoint.ec2.ec2,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.imds,
    EBS_ACCESSKEY: TEST_ACCESS_KEY,
    EBS_SECRETKEY: TEST_SECRET_KEY,
    EBS_DEVICEDIR: endpoint.devdir,
    EBS_LOGLEVEL: 'info',
  });
  const manifest = JSON.parse(fs.readFileSync(path.join(built.dir, 'config.json'), 'utf8')) as { interface: { socket: string } };
  const socket = path.join('/run/docker/plugins', installed.id, manifest.interface.socket);
  const client = new PluginClient(socket);
  cleanup.add(`client of ${name}`, () => client.close());
  const endpointUrl = endpoint.ec2.ec2;
  let pid = 0;
  return {
    ...installed,
    socket,
    client,
    pid() {
      if (pid && processHasEnv(pid, `EBS_ENDPOINT=${endpointUrl}`)) return pid;
      pid = findProcess((cmdline) => cmdline.includes('/berth/cli.js') && cmdline.includes('serve'), `EBS_ENDPOINT=${endpointUrl}`);
      return pid;
    },
    calls: () => parsePluginCalls(pluginLog(dockerd, installed.id, Number.MAX_SAFE_INTEGER)),
  };
}

/**
 * Waits until berth is connected to EC2: a Get of a name that does not exist answers "not ready" until then.
 * Not List: a List would start berth's keep-warm refreshes and spoil the cold `docker volume ls` of item 4.
 */
export async function waitReady(client: PluginClient, timeoutMs = 30_000): Promise<void> {
  let err = '';
  const ready = async () => {
    const answer = await client.call('VolumeDriver.Get', { Name: 'bench-ready-probe' }).catch((failure: Error) => ({ body: { Err: failure.message } }));
    err = String(answer.body.Err ?? '');
    return !/not ready|ECONNREFUSED|ENOENT/.test(err);
  };
  await waitFor('berth to be ready', ready, { timeoutMs, intervalMs: 20 }).catch((failure: Error) => {
    throw new Error(`${failure.message}: ${err}`);
  });
}

/**
 * Removes a plugin without a `docker volume rm` per volume (the harness's way, far too slow with 1,000 volumes):
 * the volumes live on the endpoint, which is destroyed after dockerd; dockerd.stop() unmounts what is left.
 */
async function removePluginQuickly(dockerd: Dockerd, name: string): Promise<void> {
  const known = await dockerd.docker(['plugin', 'inspect', name]);
  if (known.code !== 0) return;
  // A running container keeps its volume mounted and the plugin in use.
  const containers = (await dockerd.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
  if (containers.length > 0) await dockerd.dockerOk(['rm', '-f', ...containers], { timeoutMs: 180_000 });
  const disabled = await dockerd.docker(['plugin', 'disable', '--force', name], { timeoutMs: 60_000 });
  if (disabled.code !== 0 && !/already disabled/.test(disabled.stderr)) throw new Error(`plugin disable: ${disabled.stderr.trim()}`);
  await dockerd.dockerOk(['plugin', 'rm', '--force', name], { timeoutMs: 60_000 });
}

/** berth's "call" log lines (one per protocol call, with its duration inside berth), from dockerd's log. */
export function parsePluginCalls(log: string): PluginCall[] {
  const calls: PluginCall[] = [];
  for (const line of log.split('\n')) {
    const quoted = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (!quoted) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(JSON.parse(`"${quoted[1]}"`) as string) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (entry.message !== 'call' || typeof entry.method !== 'string' || typeof entry.durationMs !== 'number') continue;
    calls.push({
      at: Date.parse(String(entry.timestamp)),
      method: entry.method,
      volume: typeof entry.volume === 'string' ? entry.volume : undefined,
      durationMs: entry.durationMs,
      outcome: String(entry.outcome ?? ''),
    });
  }
  return calls;
}

function processHasEnv(pid: number, entry: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/** The one process whose command line matches and whose environment holds `envEntry`. */
export function findProcess(matches: (cmdline: string) => boolean, envEntry: string): number {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (matches(cmdline) && processHasEnv(pid, envEntry)) found.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  if (found.length !== 1) throw new Error(`expected one process with ${envEntry}, found ${found.length}`);
  return found[0];
}

/** Resident set size of a process, in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!kib) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib[1]) / 1024;
}
