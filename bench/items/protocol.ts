/**
 * Item 3: latency of protocol calls berth answers from memory (cached Get, Path, Capabilities) against a bare
 * Node http server on a unix socket answering a fixed body, through one client, alternating call by call; and
 * List with the bulk volumes known (berth's List cache warm).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { stopChild } from '../../test/support/processes';
import type { BenchContext } from '../context';
import { PluginClient } from '../plugin-client';
import type { Cleanup } from '../stage';
import { msSince, ratio, summarise, type Summary } from '../stats';

const BARE_SERVER = path.join(__dirname, '..', 'bare-server.cjs');

export interface Latency {
  berth: Summary;
  bare: Summary;
  /** berth p50 / bare p50. */
  ratio: number;
}

export interface ProtocolResult {
  /** The Node binary the bare server ran on (the plugin's own runtime when the rootfs has one). */
  bareRuntime: string;
  samples: number;
  Get: Latency;
  Path: Latency;
  Capabilities: Latency;
  List: { berth: Summary; volumes: number; bytes: number; samples: number };
}

async function startBareServer(cleanup: Cleanup, node: string): Promise<PluginClient> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-bench-bare-'));
  cleanup.add(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  const child = spawn(node, [BARE_SERVER, path.join(dir, 'bare.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.add('bare http server', () => stopChild(child));
  await new Promise<void>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  const client = new PluginClient(path.join(dir, 'bare.sock'));
  cleanup.add('bare server client', () => client.close());
  return client;
}

async function sample(client: PluginClient, method: string, body: object): Promise<number> {
  const start = process.hrtime.bigint();
  const answer = await client.call(method, body);
  const ms = msSince(start);
  if (answer.status !== 200) throw new Error(`${method}: HTTP ${answer.status}`);
  return ms;
}

async function compare(berth: PluginClient, bare: PluginClient, method: string, body: object, samples: number): Promise<Latency> {
  const times = { berth: [] as number[], bare: [] as number[] };
  for (let i = 0; i < samples; i++) {
    // Alternate which goes first, so neither always follows the other's garbage.
    if (i % 2 === 0) {
      times.berth.push(await sample(berth, method, body));
      times.bare.push(await sample(bare, method, body));
    } else {
      times.bare.push(await sample(bare, method, body));
      times.berth.push(await sample(berth, method, body));
    }
  }
  const result = { berth: summarise(times.berth), bare: summarise(times.bare) };
  return { ...result, ratio: ratio(result.berth.p50, result.bare.p50) };
}

export async function benchProtocol(ctx: BenchContext, cleanup: Cleanup, options: { volume: string; node: string; samples: number; listSamples: number }): Promise<ProtocolResult> {
  const berth = ctx.plugin.client;
  const bare = await startBareServer(cleanup, options.node);
  const got = await berth.ok('VolumeDriver.Get', { Name: options.volume });
  if (!got.Volume) throw new Error(`berth does not know ${options.volume}`);
  const listed = await berth.call('VolumeDriver.List');
  const volumes = Array.isArray(listed.body.Volumes) ? listed.body.Volumes.length : 0;
  // Warm-up: connections, JIT, caches.
  for (const method of ['VolumeDriver.Get', 'VolumeDriver.Path', 'VolumeDriver.Capabilities']) {
    await compare(berth, bare, method, { Name: options.volume }, 200);
  }
  const result: ProtocolResult = {
    bareRuntime: options.node,
    samples: options.samples,
    Get: await compare(berth, bare, 'VolumeDriver.Get', { Name: options.volume }, options.samples),
    Path: await compare(berth, bare, 'VolumeDriver.Path', { Name: options.volume }, options.samples),
    Capabilities: await compare(berth, bare, 'VolumeDriver.Capabilities', {}, options.samples),
    List: { berth: summarise([]), volumes, bytes: listed.bytes, samples: options.listSamples },
  };
  const list: number[] = [];
  for (let i = 0; i < options.listSamples; i++) list.push(await sample(berth, 'VolumeDriver.List', {}));
  result.List.berth = summarise(list);
  ctx.progress(
    `protocol p50: Get ${result.Get.berth.p50} ms (bare ${result.Get.bare.p50}), Capabilities ${result.Capabilities.berth.p50} ms, List of ${volumes} ${result.List.berth.p50} ms`,
  );
  return result;
}
