/**
 * `make bench`: every measurement of issue 5 in one invocation, berth side by side with its references, then a
 * table on stdout and the figures as JSON in bench/results/. Benchmarks are not tests: the exit code is 0 unless
 * something broke (a benchmark that could not run, or a cleanup that failed), whatever the figures say.
 *
 * Settings (environment): BENCH_RUNS (samples per variant, default 10), BENCH_DELAYED_RUNS (5), BENCH_BULK
 * (volumes for List, 1000), BENCH_SAMPLES (protocol calls per method, 2000), BENCH_LIST_VOLUMES (volumes for item 8,
 * 10000), BENCH_ONLY (comma-separated item numbers, for working on one item), BENCH_RESULTS (output directory,
 * default bench/results).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBulkVolumes } from './bulk';
import type { BenchContext } from './context';
import { benchCallsPerOperation, benchListCalls } from './items/calls';
import { benchStartup, compressedSize, startupVariants } from './items/daemon';
import { benchDelayed, benchLifecycle, benchRemount, INJECTED_DELAYS } from './items/lifecycle';
import { benchListScale } from './items/list-scale';
import { benchParallel } from './items/parallel';
import { benchProtocol } from './items/protocol';
import { buildRows, renderTable, writeResults, type BenchResult } from './report';
import { buildPlugin, Cleanup, rssMiB, startDocker, startEndpoint, startPlugin, variantPluginDir, waitReady } from './stage';
import { round } from './stats';
import { setting } from './settings';

const REPO = path.resolve(__dirname, '..');
/** berth's default List cache lifetime (EBS_LISTCACHE); the plugin runs with the default. */
const LIST_CACHE_MS = 5000;
const PLUGIN = 'berth/ebs:latest';
const DELAYED_PLUGIN = 'berth-bench/delayed:latest';

function commit(): string {
  try {
    const head = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<number> {
  const runs = setting('BENCH_RUNS', 10);
  const delayedRuns = setting('BENCH_DELAYED_RUNS', 5);
  const bulk = setting('BENCH_BULK', 1000);
  const samples = setting('BENCH_SAMPLES', 2000);
  const listVolumes = setting('BENCH_LIST_VOLUMES', 10_000);
  const only = new Set((process.env.BENCH_ONLY ?? '1,2,3,4,5,6,7,8').split(',').map((item) => item.trim()));
  const resultsDir = path.resolve(process.env.BENCH_RESULTS ?? path.join(REPO, 'bench/results'));
  const started = Date.now();
  const result: BenchResult = {
    version: 1,
    startedAt: new Date(started).toISOString(),
    commit: commit(),
    machine: { node: process.versions.node, cpus: os.cpus().length, loadavgAtStart: os.loadavg().map((n) => round(n, 2)), kernel: os.release() },
    runs,
    errors: [],
  };
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    void cleanup.runAll().then((problems) => {
      for (const problem of problems) progress(`cleanup: ${problem}`);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const attempt = async (what: string, work: () => Promise<void>) => {
    if (interrupted) return;
    try {
      await work();
    } catch (err) {
      const message = `${what}: ${(err as Error).stack ?? String(err)}`;
      result.errors.push(message);
      progress(`FAILED ${message}`);
    }
  };

  try {
    progress('plugin rootfs: building (reused when up to date)');
    const built = await buildPlugin();
    const rootfs = path.join(built.dir, 'rootfs');
    progress(`plugin rootfs ${(built.rootfsBytes / 1024 / 1024).toFixed(1)} MiB (${built.rebuilt ? `built in ${built.seconds} s` : 'reused'})`);
    const endpoint = await startEndpoint(cleanup, 'zero');
    const dockerd = await startDocker(cleanup);
    const plugin = await startPlugin(cleanup, dockerd, built, PLUGIN, endpoint);
    await waitReady(plugin.client);
    result.plugin = { enableMs: plugin.enableMs, idleRssMiB: round(rssMiB(plugin.pid()), 1), bulkVolumes: 0, rootfsBytes: built.rootfsBytes };
    progress(`dockerd up in ${dockerd.startMs} ms; plugin enabled in ${plugin.enableMs} ms, idle RSS ${result.plugin.idleRssMiB} MiB`);
    const ctx: BenchContext = { dockerd, endpoint, plugin, runs, progress };

    if (only.has('6')) {
      await attempt('item 6: daemon start-up', async () => {
        const compileCache = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-bench-cache-'));
        cleanup.add(`remove ${compileCache}`, () => fs.rmSync(compileCache, { recursive: true, force: true }));
        result.startup = await benchStartup(startupVariants(rootfs, compileCache), endpoint, Math.max(5, Math.ceil(runs / 2)));
        for (const variant of result.startup) progress(`start-up ${variant.name}: listening ${variant.listeningMs.p50} ms, ready ${variant.readyMs.p50} ms`);
      });
    }
    if (only.has('4')) {
      await attempt('item 4: EC2 calls per operation', async () => {
        result.calls = await benchCallsPerOperation(ctx);
      });
    }
    if (only.has('1')) {
      await attempt('item 1: lifecycle', async () => {
        result.lifecycle = await benchLifecycle(ctx);
      });
    }
    if (only.has('2')) {
      await attempt('item 2: re-mount', async () => {
        result.remount = await benchRemount(ctx);
      });
    }
    if (only.has('7')) {
      await attempt('item 7: EC2-like delays', async () => {
        const slow = await startEndpoint(cleanup, 'slow', INJECTED_DELAYS);
        const delayed = await startPlugin(cleanup, dockerd, await variantPluginDir(cleanup, built, 'delayed'), DELAYED_PLUGIN, slow);
        await waitReady(delayed.client);
        try {
          result.delayed = await benchDelayed(ctx, { plugin: delayed, ec2: slow.ec2 }, delayedRuns);
        } finally {
          await dockerd.docker(['plugin', 'disable', '--force', DELAYED_PLUGIN], { timeoutMs: 60_000 });
        }
      });
    }
    if (only.has('5')) {
      await attempt('item 5: parallel starts', async () => {
        result.parallel = await benchParallel(ctx);
      });
    }
    if (only.has('3') || only.has('4') || only.has('6')) {
      await attempt(`items 3, 4, 6 with ${bulk} volumes`, async () => {
        const start = Date.now();
        await createBulkVolumes(endpoint.ec2, 'bench-bulk', bulk);
        progress(`${bulk} volumes created at the endpoint in ${((Date.now() - start) / 1000).toFixed(1)} s`);
        result.plugin!.bulkVolumes = bulk;
        if (only.has('4')) result.list = await benchListCalls(ctx, LIST_CACHE_MS);
        if (only.has('3')) {
          const pluginNode = path.join(rootfs, 'usr/local/bin/node');
          result.protocol = await benchProtocol(ctx, cleanup, {
            volume: 'bench-bulk-0001',
            node: fs.existsSync(pluginNode) ? pluginNode : process.execPath,
            samples,
            listSamples: Math.max(50, Math.round(samples / 10)),
          });
        }
        await plugin.client.ok('VolumeDriver.List');
        result.plugin!.rssWithBulkMiB = round(rssMiB(plugin.pid()), 1);
      });
    }
    if (only.has('6')) {
      await attempt('item 6: compressed rootfs', async () => {
        result.plugin!.compressedBytes = await compressedSize(rootfs);
      });
    }
    if (only.has('8')) {
      await attempt(`item 8: List with ${listVolumes} volumes`, async () => {
        // Its own endpoint and daemon, removed at once: 10,000 volumes should not outlive the item.
        const own = new Cleanup();
        cleanup.add('item 8 (if interrupted)', () => own.runAll());
        try {
          result.listScale = await benchListScale(own, listVolumes, progress);
        } finally {
          for (const problem of await own.runAll()) result.errors.push(`cleanup of item 8: ${problem}`);
        }
      });
    }
  } catch (err) {
    result.errors.push(`set-up: ${(err as Error).stack ?? String(err)}`);
    progress(`FAILED set-up: ${(err as Error).stack ?? String(err)}`);
  } finally {
    progress('tearing down');
    for (const problem of await cleanup.runAll()) {
      result.errors.push(`cleanup: ${problem}`);
      progress(`cleanup problem: ${problem}`);
    }
  }

  result.finishedAt = new Date().toISOString();
  result.durationS = Math.round((Date.now() - started) / 1000);
  result.rows = buildRows(result);
  const table = renderTable(result.rows);
  const written = writeResults(resultsDir, result, table);
  process.stdout.write(`\n${table}\n`);
  if (result.lifecycle) process.stdout.write(`lifecycle ratio ${result.lifecycle.ratio.toFixed(2)}\n`);
  process.stdout.write(`results: ${path.relative(process.cwd(), written.json)} (also latest.json, latest.md)\n`);
  for (const error of result.errors) process.stdout.write(`error: ${error.split('\n')[0]}\n`);
  return result.errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
