/**
 * The one local EC2 endpoint every swarm node talks to, run as users run it (`berth local-ec2`), listening on unix
 * sockets only: EC2 on one, each simulated instance's metadata service on its own. Restartable with other delays
 * (volumes, attachments and instances survive a restart of the same data dir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { runCommand } from '../support/commands';
import { CLI, TEST_ACCESS_KEY, TEST_SECRET_KEY } from '../support/local-ec2';
import { stopChild } from '../support/processes';

export interface SimulatedInstance {
  id: string;
  az: string;
  /** unix socket of its metadata service */
  imdsSocket: string;
  /** where the endpoint makes this instance's device links */
  devdir: string;
}

/** One entry of GET /_berth/calls. */
export interface EndpointCall {
  seq: number;
  action: string;
  volumeId?: string;
  instanceId?: string;
  result: string;
  time: string;
  durationMs: number;
}

export interface EndpointAttachment {
  instanceId: string;
  device: string;
  status: string;
}

/** The parts of GET /_berth/state the tests read. */
export interface EndpointVolume {
  id: string;
  availabilityZone: string;
  /** creating, available, deleting or error ("in-use" is having an attachment) */
  lifecycle: string;
  snapshotId?: string;
  tags: Record<string, string>;
  attachment?: EndpointAttachment;
  rootOf?: string;
}

export interface EndpointSnapshot {
  id: string;
  volumeId: string;
  state: string;
}

const START_TIMEOUT_MS = 30_000;

export class SwarmEndpoint {
  readonly ec2Socket: string;
  readonly dataDir: string;
  private child?: ChildProcess;
  private readonly logFile: string;
  delays = '';

  constructor(
    private readonly baseDir: string,
    readonly instances: SimulatedInstance[],
  ) {
    this.ec2Socket = path.join(baseDir, 'ec2.sock');
    this.dataDir = path.join(baseDir, 'ec2');
    this.logFile = path.join(baseDir, 'ec2.log');
  }

  /** Starts it (again) with these transition delays: '' (none), 'realistic' or e.g. 'attach=3s,detach=3s'. */
  async start(delays = ''): Promise<void> {
    if (this.child) throw new Error('local EC2 endpoint already running');
    const args = [CLI, 'local-ec2', '--listen', `unix:${this.ec2Socket}`, '--data-dir', this.dataDir];
    args.push('--access-key', TEST_ACCESS_KEY, '--secret-key', TEST_SECRET_KEY, '--log-level', 'info');
    for (const instance of this.instances) {
      args.push('--instance', `id=${instance.id},az=${instance.az},imds=unix:${instance.imdsSocket},devdir=${instance.devdir}`);
    }
    if (delays) args.push('--delays', delays);
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', log] });
    fs.closeSync(log);
    this.child = child;
    try {
      await firstLine(child, START_TIMEOUT_MS);
    } catch (err) {
      await this.stop();
      throw new Error(`local EC2 endpoint: ${(err as Error).message}\n${this.logTail()}`);
    }
    this.delays = delays;
  }

  async restart(delays: string): Promise<void> {
    await this.stop();
    await this.start(delays);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child);
  }

  /** Stops it, detaches every loop device and removes every link it made, and its data. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    await this.stop();
    if (fs.existsSync(this.dataDir)) {
      const out = await runCommand(process.execPath, [CLI, 'local-ec2', 'cleanup', '--data-dir', this.dataDir], { timeoutMs: 60_000 });
      if (out.code !== 0) problems.push(`local-ec2 cleanup: ${out.stderr.trim()}`);
    }
    return problems;
  }

  logTail(lines = 40): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n') : '';
  }

  async admin<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const request = http.request(
        {
          socketPath: this.ec2Socket,
          path: `/_berth/${route}`,
          method,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          timeout: 15_000,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            if (response.statusCode !== 200) reject(new Error(`admin ${route}: ${response.statusCode} ${text}`));
            else resolve(JSON.parse(text) as T);
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`admin ${route}: no answer within 15 s`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  calls(since = 0): Promise<EndpointCall[]> {
    return this.admin<EndpointCall[]>('GET', `calls?since=${since}`);
  }

  /** The sequence number of the last call so far (0 when none), to count the calls of what follows. */
  async lastSeq(): Promise<number> {
    const calls = await this.calls();
    return calls.length > 0 ? calls[calls.length - 1].seq : 0;
  }

  async volumes(): Promise<EndpointVolume[]> {
    const state = await this.admin<{ volumes: EndpointVolume[] }>('GET', 'state');
    return state.volumes.filter((volume) => !volume.rootOf);
  }

  async snapshots(): Promise<EndpointSnapshot[]> {
    return (await this.admin<{ snapshots: EndpointSnapshot[] }>('GET', 'state')).snapshots;
  }
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no start-up line within ${timeoutMs} ms`)), timeoutMs);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code, signalName) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signalName}) before it was ready`));
    });
  });
}
