/** Runs berth's local EC2 endpoint as a child process, the way the demo and users run it. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { runCommandOk } from './commands';
import { stopChild } from './processes';

/** berth's built CLI; BERTH_CLI points the harness at another build (one compiled elsewhere, say). */
export const CLI = process.env.BERTH_CLI ? path.resolve(process.env.BERTH_CLI) : path.resolve(__dirname, '../../dist/cli.js');
export const TEST_ACCESS_KEY = 'AKIDBERTHTEST0000001';
export const TEST_SECRET_KEY = 'berth-test-secret-key-do-not-log-0001';

export interface EndpointInstance {
  id: string;
  az: string;
  imds: string;
  devdir: string;
}

export interface LocalEc2 {
  ec2: string;
  instances: EndpointInstance[];
  dataDir: string;
  output: string[];
  stop(): Promise<void>;
  /** Stops it and removes every loop device, link and file it made. */
  destroy(): Promise<void>;
  admin(method: 'GET' | 'POST', route: string, body?: unknown): Promise<any>;
}

export async function startLocalEc2(instanceSpecs: string[] = [''], extraArgs: string[] = []): Promise<LocalEc2> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ec2-'));
  const args = [CLI, 'local-ec2', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--access-key', TEST_ACCESS_KEY, '--secret-key', TEST_SECRET_KEY, ...extraArgs];
  for (const spec of instanceSpecs) if (spec) args.push('--instance', spec);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stderr!.on('data', (chunk) => output.push(String(chunk)));
  const first = await firstLine(child, output).catch((err: Error) => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  const started = JSON.parse(first) as { ec2: string; instances: EndpointInstance[] };
  const stop = () => stopChild(child);
  return {
    ...started,
    dataDir,
    output,
    stop,
    async destroy() {
      await stop();
      await runCommandOk(process.execPath, [CLI, 'local-ec2', 'cleanup', '--data-dir', dataDir], { timeoutMs: 60_000 });
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    async admin(method, route, body) {
      const response = await fetch(`${started.ec2.replace(/\/$/, '')}/_berth/${route}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`admin ${route}: ${response.status} ${await response.text()}`);
      return response.json();
    },
  };
}

function firstLine(child: ChildProcess, output: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    let resolved = false;
    lines.on('line', (line) => {
      if (!resolved) {
        resolved = true;
        resolve(line);
      } else output.push(line);
    });
    child.once('exit', (code) => {
      if (!resolved) reject(new Error(`local-ec2 exited with ${code}: ${output.join('')}`));
    });
  });
}
