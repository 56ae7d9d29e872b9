/** Runs `berth serve` as a child process against the local EC2 endpoint, with its own socket, mount root and state. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, TEST_ACCESS_KEY, TEST_SECRET_KEY, type EndpointInstance } from './local-ec2';
import { mountsUnder } from './mounts';
import { waitFor } from './poll';
import { stopChild } from './processes';
import { callPlugin, type PluginReply } from './socket-client';

export interface RunningDaemon {
  socket: string;
  mountRoot: string;
  stateDir: string;
  logs: string[];
  child: ChildProcess;
  call(method: string, body?: object): Promise<PluginReply>;
  /** SIGTERM, as Docker stops a plugin. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

export interface DaemonOptions {
  ec2: string;
  instance: EndpointInstance;
  env?: Record<string, string>;
  /** Reuse these directories (a restart of the same daemon). */
  dirs?: { root: string };
  keys?: boolean;
  /** Wait until berth has connected to EC2 (default), or only until its socket listens. */
  waitReady?: boolean;
  /** Another build of berth's cli.js (default: this tree's dist). */
  cli?: string;
  /** What runs cli.js (default: this Node.js), e.g. an emulator and another architecture's node. */
  runtime?: string[];
  /** Bound of the waits for the socket and for readiness (default 10 s and 20 s). */
  startTimeoutMs?: number;
}

export async function startDaemon({
  ec2,
  instance,
  env = {},
  dirs,
  keys = true,
  waitReady = true,
  cli = CLI,
  runtime = [process.execPath],
  startTimeoutMs,
}: DaemonOptions): Promise<RunningDaemon & { root: string }> {
  const root = dirs?.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'berth-d-'));
  const socket = path.join(root, 'berth.sock');
  const mountRoot = path.join(root, 'volumes');
  const stateDir = path.join(root, 'state');
  const child = spawn(runtime[0], [...runtime.slice(1), cli, 'serve'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      EBS_SOCKET: socket,
      EBS_MOUNTROOT: mountRoot,
      EBS_STATEDIR: stateDir,
      EBS_DEVICEDIR: instance.devdir,
      EBS_ENDPOINT: ec2,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.imds,
      EBS_LOGLEVEL: 'debug',
      // Each Unmount releases at once unless a test asks for the linger after short mounts.
      EBS_RELEASEDELAY: '0',
      ...(keys ? { EBS_ACCESSKEY: TEST_ACCESS_KEY, EBS_SECRETKEY: TEST_SECRET_KEY } : {}),
      ...env,
    },
  });
  const logs: string[] = [];
  child.stdout!.on('data', (chunk) => logs.push(String(chunk)));
  child.stderr!.on('data', (chunk) => logs.push(String(chunk)));
  // A daemon that never came up is stopped, and the directories made for it removed, before the error is thrown.
  const withLogs = async (err: Error) => {
    await stopChild(child, 10_000).catch(() => undefined);
    if (!dirs && mountsUnder([root]).length === 0) fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`${err.message}: ${logs.join('')}`);
  };
  await waitFor('the daemon to listen', () => fs.existsSync(socket), { timeoutMs: startTimeoutMs ?? 10_000, intervalMs: 25 }).catch(withLogs);
  const call = (method: string, body: object = {}) => callPlugin(socket, method, body);
  if (waitReady) await waitFor('the daemon to be ready', () => /"message":"ready"/.test(logs.join('')), { timeoutMs: startTimeoutMs ?? 20_000, intervalMs: 25 }).catch(withLogs);
  return {
    root,
    socket,
    mountRoot,
    stateDir,
    logs,
    child,
    call,
    stop: () => stopChild(child, 10_000),
    kill: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      fs.rmSync(socket, { force: true });
    },
  };
}
