/**
 * Item 6: the daemon itself. Time from process start to a socket that accepts connections (Docker dials a managed
 * plugin 0.5 s after starting it) and to the first useful answer, resident memory idle and with many volumes
 * known, and the size of what users download.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { CLI, TEST_ACCESS_KEY, TEST_SECRET_KEY } from '../../test/support/local-ec2';
import { sleep, waitFor } from '../../test/support/poll';
import { stopChild } from '../../test/support/processes';
import type { Endpoint } from '../stage';
import { PluginClient } from '../plugin-client';
import { rssMiB, waitReady } from '../stage';
import { msSince, round, summarise, type Summary } from '../stats';

export interface StartupVariant {
  name: string;
  node: string;
  entry: string;
  env?: Record<string, string>;
}

export interface StartupResult {
  name: string;
  command: string;
  runs: number;
  /** Process spawned -> the socket accepts a connection. */
  listeningMs: Summary;
  /** Process spawned -> List answers without "not ready" (EC2 identity read, state reconciled). */
  readyMs: Summary;
  /** VmRSS half a second after ready, no volumes. */
  idleRssMiB: Summary;
  /** The first start of the variant (untimed in the summaries): a cold compile cache where there is one. */
  firstStart: { listeningMs: number; readyMs: number };
}

function connects(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socket);
    connection.once('connect', () => {
      connection.destroy();
      resolve(true);
    });
    connection.once('error', () => resolve(false));
  });
}

async function startOnce(variant: StartupVariant, endpoint: Endpoint): Promise<{ listeningMs: number; readyMs: number; rss: number }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-bench-d-'));
  const socket = path.join(root, 'berth.sock');
  const instance = endpoint.ec2.instances[0];
  const start = process.hrtime.bigint();
  const child = spawn(variant.node, [variant.entry, 'serve'], {
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH,
      EBS_SOCKET: socket,
      EBS_MOUNTROOT: path.join(root, 'volumes'),
      EBS_STATEDIR: path.join(root, 'state'),
      EBS_DEVICEDIR: endpoint.devdir,
      EBS_ENDPOINT: endpoint.ec2.ec2,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.imds,
      EBS_ACCESSKEY: TEST_ACCESS_KEY,
      EBS_SECRETKEY: TEST_SECRET_KEY,
      EBS_LOGLEVEL: 'info',
      ...variant.env,
    },
  });
  const client = new PluginClient(socket);
  try {
    const listening = async () => {
      if (child.exitCode !== null) throw new Error(`${variant.name}: daemon exited with ${child.exitCode}`);
      return connects(socket);
    };
    await waitFor(`${variant.name}: the socket to accept`, listening, { timeoutMs: 20_000, intervalMs: 2 });
    const listeningMs = msSince(start);
    await waitReady(client, 20_000);
    const readyMs = msSince(start);
    await sleep(500); // resident memory is read half a second after the start (see the header)
    return { listeningMs, readyMs, rss: rssMiB(child.pid!) };
  } finally {
    client.close();
    await stopChild(child, 10_000);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Alternates the variants; the first start of each is reported apart (it fills the compile cache). */
export async function benchStartup(variants: StartupVariant[], endpoint: Endpoint, runs: number): Promise<StartupResult[]> {
  const first = new Map<string, { listeningMs: number; readyMs: number }>();
  for (const variant of variants) {
    const once = await startOnce(variant, endpoint);
    first.set(variant.name, { listeningMs: round(once.listeningMs, 1), readyMs: round(once.readyMs, 1) });
  }
  const samples = new Map(variants.map((variant) => [variant.name, [] as Array<{ listeningMs: number; readyMs: number; rss: number }>]));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) samples.get(variant.name)!.push(await startOnce(variant, endpoint));
  }
  return variants.map((variant) => {
    const runsOf = samples.get(variant.name)!;
    return {
      name: variant.name,
      command: `${variant.node} ${variant.entry} serve`,
      runs,
      listeningMs: summarise(runsOf.map((s) => s.listeningMs)),
      readyMs: summarise(runsOf.map((s) => s.readyMs)),
      idleRssMiB: summarise(runsOf.map((s) => s.rss)),
      firstStart: first.get(variant.name)!,
    };
  });
}

/** The variants measured: the compiled dist under this Node, and the plugin's bundle under the plugin's Node. */
export function startupVariants(rootfs: string, compileCacheDir: string): StartupVariant[] {
  const variants: StartupVariant[] = [{ name: 'dist', node: process.execPath, entry: CLI }];
  const node = path.join(rootfs, 'usr/local/bin/node');
  const bundle = path.join(rootfs, 'berth/cli.js');
  if (fs.existsSync(node) && fs.existsSync(bundle)) {
    variants.push({ name: 'plugin bundle', node, entry: bundle, env: { NODE_COMPILE_CACHE: compileCacheDir } });
  }
  return variants;
}

/** Bytes of `tar -c` of the rootfs through gzip (level 6, as `docker plugin push` compresses its layer). */
export function compressedSize(rootfs: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['--sort=name', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const gzip = zlib.createGzip({ level: 6 });
    let bytes = 0;
    let stderr = '';
    tar.stderr!.on('data', (chunk) => (stderr += chunk));
    gzip.on('data', (chunk: Buffer) => (bytes += chunk.length));
    gzip.on('end', () => resolve(bytes));
    gzip.on('error', reject);
    tar.on('error', reject);
    tar.on('close', (code) => {
      if (code !== 0) reject(new Error(`tar of ${rootfs} exited ${code}: ${stderr.trim()}`));
    });
    tar.stdout!.pipe(gzip);
  });
}
