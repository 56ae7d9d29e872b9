/**
 * Item 8: List with many volumes in one namespace (BENCH_LIST_VOLUMES, default 10,000), berth run directly (the
 * legacy, systemd way) against the local endpoint: the cold List (first after start, cache empty), warm Lists
 * (answered from the cache), the daemon's RSS with the listing known, and how long the background refreshes that
 * keep the listing warm hold up the daemon's event loop, seen two ways: berth's own measurement (monitorEventLoopDelay
 * during each refresh, in its debug line "volume listing refreshed") and a Capabilities call timed from here every
 * few ms while refreshes run.
 *
 *   node --enable-source-maps test/support/run-ts.cjs bench/items/list-scale.ts
 *
 * The daemon runs as berth ships it: the plugin rootfs's Node.js and bundle (build/plugin, `make plugin-rootfs`),
 * the form the managed plugin and `make legacy` run; without a rootfs, or with BERTH_CLI set, that build
 * (default dist/cli.js) on this machine's Node.js.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon } from '../../test/support/daemon';
import { CLI, startLocalEc2, type LocalEc2 } from '../../test/support/local-ec2';
import { sleep } from '../../test/support/poll';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { addBulkVolumes, endpointClient } from '../bulk';
import { PluginClient } from '../plugin-client';
import { Cleanup, rssMiB } from '../stage';
import { msSince, round, summarise, type Summary } from '../stats';
import { setting } from '../settings';

const REPO = path.resolve(__dirname, '../..');
/** berth's default EBS_LISTCACHE; the daemon refreshes at 80% of it while List keeps being called. */
const LIST_CACHE_MS = 5000;
const WARM_SAMPLES = 200;
const REFRESHES_WATCHED = 5;
const PROBE_INTERVAL_MS = 5;
const RSS_SAMPLE_MS = 250;

/** Which build of berth ran, on which Node.js. */
export interface DaemonForm {
  name: 'plugin bundle' | 'dist';
  node: string;
  cli: string;
}

/** The plugin rootfs's runtime and bundle when built (and BERTH_CLI does not pick another build), else CLI. */
export function shippedForm(rootfs = path.join(REPO, 'build/plugin/rootfs')): DaemonForm {
  const node = path.join(rootfs, 'usr/local/bin/node');
  const bundle = path.join(rootfs, 'berth/cli.js');
  if (!process.env.BERTH_CLI && fs.existsSync(node) && fs.existsSync(bundle)) return { name: 'plugin bundle', node, cli: bundle };
  return { name: 'dist', node: process.execPath, cli: CLI };
}

export interface ListScaleResult {
  /** The build that ran (its Node.js version too). */
  daemon: { form: DaemonForm['name']; node: string };
  volumes: number;
  /** Creating the volumes at the endpoint (set-up, not berth). */
  createS: number;
  /** Loop devices bound to the endpoint's files after creating them (none: a volume gets one when attached). */
  loopDevices: number;
  listBytes: number;
  coldMs: number;
  warm: Summary;
  rssAfterColdMiB: number;
  /** Highest RSS seen while the refreshes ran (background ones, then those that write volumes.json). */
  rssMiB: number;
  refreshes: Array<{ durationMs: number; eventLoopMaxDelayMs: number; changed: boolean }>;
  /** Refreshes after one volume's tags changed at the endpoint (each then writes volumes.json again). */
  changedRefreshes: Array<{ durationMs: number; eventLoopMaxDelayMs: number; changed: boolean }>;
  /** Longest event-loop delay berth measured during a refresh. */
  longestBlockMs?: number;
  /** Slowest Capabilities answer while refreshes ran, and how many were sent. */
  probe: { maxMs: number; p99Ms: number; calls: number };
}

/** The Node options berth ships with (the managed plugin's manifest; the legacy unit sets the same). */
function shippedNodeOptions(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'config.json'), 'utf8')) as { env: Array<{ name: string; value?: string }> };
  return manifest.env.find((entry) => entry.name === 'NODE_OPTIONS')?.value ?? '';
}

function loopDevicesOf(dataDir: string): number {
  const listed = execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' });
  return listed.split('\n').filter((file) => file.trim().startsWith(dataDir)).length;
}

interface RefreshLine {
  at: number;
  durationMs: number;
  eventLoopMaxDelayMs: number;
  changed: boolean;
}

function refreshLines(logs: string[]): RefreshLine[] {
  const found: RefreshLine[] = [];
  for (const line of logs.join('').split('\n')) {
    if (!line.includes('volume listing refreshed')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.eventLoopMaxDelayMs !== 'number') continue;
      found.push({ at: Date.parse(String(entry.timestamp)), durationMs: Number(entry.durationMs), eventLoopMaxDelayMs: entry.eventLoopMaxDelayMs, changed: entry.changed === true });
    } catch {
      // not a JSON line
    }
  }
  return found;
}

/** Times Capabilities (answered at once) back to back, PROBE_INTERVAL_MS apart, until `stop` resolves. */
async function probeWhile(client: PluginClient, stop: Promise<unknown>): Promise<number[]> {
  let stopped = false;
  void stop.finally(() => (stopped = true));
  const samples: number[] = [];
  while (!stopped) {
    const start = process.hrtime.bigint();
    await client.ok('VolumeDriver.Capabilities');
    samples.push(msSince(start));
    await sleep(PROBE_INTERVAL_MS);
  }
  return samples;
}

/** Two refreshes, each after a tag of one volume changed at the endpoint: the listing changed, so it is written out. */
async function refreshesAfterChanges(ec2: LocalEc2, logs: string[], client: PluginClient): Promise<ListScaleResult['changedRefreshes']> {
  const sdk = endpointClient(ec2);
  const state = (await ec2.admin('GET', 'state')) as { volumes: Array<{ id: string; tags: Record<string, string> }> };
  const berthVolumes = state.volumes.filter((volume) => volume.tags['berth:name'] !== undefined);
  const changed: ListScaleResult['changedRefreshes'] = [];
  try {
    await client.ok('VolumeDriver.List');
    for (let round = 1; round <= 2; round++) {
      const before = refreshLines(logs).length;
      await sdk.send(new CreateTagsCommand({ Resources: [berthVolumes[round].id], Tags: [{ Key: 'bench-change', Value: String(round) }] }));
      const deadline = Date.now() + 3 * LIST_CACHE_MS;
      while (Date.now() < deadline && !refreshLines(logs).slice(before).some((line) => line.changed)) await sleep(200);
      const line = refreshLines(logs).slice(before).find((entry) => entry.changed);
      if (line) changed.push({ durationMs: line.durationMs, eventLoopMaxDelayMs: line.eventLoopMaxDelayMs, changed: true });
    }
  } finally {
    sdk.destroy();
  }
  return changed;
}

export async function benchListScale(cleanup: Cleanup, volumes: number, progress: (line: string) => void, form = shippedForm()): Promise<ListScaleResult> {
  const ec2: LocalEc2 = await startLocalEc2();
  cleanup.add(`local EC2 endpoint ${ec2.ec2} (stop, detach its loop devices, remove ${ec2.dataDir})`, () => ec2.destroy());
  const createStart = Date.now();
  await addBulkVolumes(ec2, 'list', volumes);
  const createS = round((Date.now() - createStart) / 1000, 1);
  const loopDevices = loopDevicesOf(ec2.dataDir);
  progress(`${volumes} volumes created at the endpoint in ${createS} s; ${loopDevices} loop devices`);

  const nodeVersion = execFileSync(form.node, ['--version'], { encoding: 'utf8' }).trim();
  progress(`daemon: ${form.name} (${form.cli}) on Node.js ${nodeVersion}`);
  const daemon = await startDaemon({
    cli: form.cli,
    runtime: [form.node],
    ec2: ec2.ec2,
    instance: ec2.instances[0],
    env: { EBS_LOGLEVEL: 'debug', EBS_LISTCACHE: `${LIST_CACHE_MS}ms`, NODE_OPTIONS: shippedNodeOptions() },
  });
  cleanup.add(`berth daemon (remove ${daemon.root})`, async () => {
    await daemon.stop();
    fs.rmSync(daemon.root, { recursive: true, force: true });
  });
  const pid = daemon.child.pid!;
  const client = new PluginClient(daemon.socket);
  cleanup.add('plugin client', () => client.close());

  const coldStart = process.hrtime.bigint();
  const cold = await client.call('VolumeDriver.List', {}, 120_000);
  const coldMs = round(msSince(coldStart), 1);
  const listed = (cold.body.Volumes as unknown[] | undefined)?.length ?? 0;
  if (listed !== volumes) throw new Error(`the cold List showed ${listed} volumes, not ${volumes}: ${String(cold.body.Err ?? '')}`);
  const rssAfterColdMiB = round(rssMiB(pid), 1);
  progress(`cold List ${coldMs} ms (${Math.round(cold.bytes / 1024)} KiB), RSS ${rssAfterColdMiB} MiB`);

  const warmSamples: number[] = [];
  for (let i = 0; i < WARM_SAMPLES; i++) {
    const start = process.hrtime.bigint();
    await client.ok('VolumeDriver.List');
    warmSamples.push(msSince(start));
  }
  const warm = summarise(warmSamples);
  progress(`warm List p50 ${warm.p50} ms, p99 ${warm.p99} ms`);

  // The refreshes berth makes on its own for a minute after the last List; no List meanwhile, so that the probes
  // meet only the refreshes.
  const seenBefore = refreshLines(daemon.logs).length;
  const watchStart = Date.now();
  // RSS is sampled through the background refreshes and the ones that write volumes.json.
  let rss = rssAfterColdMiB;
  const rssSampler = setInterval(() => (rss = Math.max(rss, rssMiB(pid))), RSS_SAMPLE_MS);
  cleanup.add('RSS sampler', () => clearInterval(rssSampler));
  const watched = (async () => {
    const deadline = Date.now() + (REFRESHES_WATCHED + 2) * LIST_CACHE_MS;
    while (Date.now() < deadline && refreshLines(daemon.logs).filter((line) => line.at >= watchStart).length < REFRESHES_WATCHED) await sleep(1000);
  })();
  const prober = new PluginClient(daemon.socket);
  cleanup.add('probe client', () => prober.close());
  const probeSamples = await probeWhile(prober, watched);
  await watched;
  const refreshes = refreshLines(daemon.logs)
    .slice(seenBefore)
    .map(({ durationMs, eventLoopMaxDelayMs, changed }) => ({ durationMs, eventLoopMaxDelayMs, changed }));
  const changedRefreshes = await refreshesAfterChanges(ec2, daemon.logs, client);
  clearInterval(rssSampler);
  const probeSummary = summarise(probeSamples);
  const longestBlockMs = refreshes.length > 0 ? Math.max(...refreshes.map((refresh) => refresh.eventLoopMaxDelayMs)) : undefined;
  progress(`refreshes after a change (volumes.json written): event-loop block ${changedRefreshes.map((line) => line.eventLoopMaxDelayMs).join(', ')} ms`);
  progress(
    `${refreshes.length} background refreshes: longest event-loop block ${longestBlockMs ?? 'not logged'} ms; ` +
      `Capabilities while refreshing max ${probeSummary.max} ms (p99 ${probeSummary.p99} ms, ${probeSamples.length} calls); RSS up to ${round(rss, 1)} MiB`,
  );
  return {
    daemon: { form: form.name, node: nodeVersion },
    volumes,
    createS,
    loopDevices,
    listBytes: cold.bytes,
    coldMs,
    warm,
    rssAfterColdMiB,
    rssMiB: round(rss, 1),
    refreshes,
    changedRefreshes,
    longestBlockMs,
    probe: { maxMs: probeSummary.max, p99Ms: probeSummary.p99, calls: probeSamples.length },
  };
}

// run-ts.cjs loads the entry with require(), so require.main is run-ts itself: the argument names the entry.
if (require.main === module || process.argv[1] === __filename) {
  const cleanup = new Cleanup();
  const progress = (line: string) => process.stderr.write(`[list-scale ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  let code = 0;
  const stop = (signal: NodeJS.Signals) => {
    progress(`${signal}: cleaning up`);
    void cleanup.runAll().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  benchListScale(cleanup, setting('BENCH_LIST_VOLUMES', 10_000), progress)
    .then((result) => process.stdout.write(`${JSON.stringify(result, null, 1)}\n`))
    .catch((err: unknown) => {
      code = 1;
      progress(`FAILED ${(err as Error).stack ?? String(err)}`);
    })
    .finally(async () => {
      for (const problem of await cleanup.runAll()) {
        code = 1;
        progress(`cleanup problem: ${problem}`);
      }
      process.exit(code);
    });
}
