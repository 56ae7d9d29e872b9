/**
 * The demo environment: where everything lives, and how its two background services are started, found again
 * and stopped — the local EC2 endpoint (berth's stand-in for AWS) and a private Docker daemon (never the
 * machine's own Docker: its own config file, data root, exec root, socket, pid file and cgroup parent).
 * Used by demo.mjs (`make demo`) and clean.mjs (`make demo-clean`).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findExecutable, runCommand, runCommandOk, type RunOptions } from '../test/support/commands';
import { waitFor } from '../test/support/poll';
import { isAlive, livePid, startInBackground, stopProcess } from '../test/support/processes';
import { freeLoopbackPort, getJson, pingUnixSocket } from '../test/support/sockets';
import { DemoError, tail } from './support';

export const REPO = path.resolve(__dirname, '..');
export const CLI = path.join(REPO, 'dist/cli.js');

/** Persistent state: the endpoint's volumes, Docker's data root, logs. */
const STATE = '/var/lib/berth-demo';
/** Runtime files: socket, pid files, Docker's exec root (short: unix socket paths are limited to 107 bytes). */
const RUN = '/run/berth-demo';

export const paths = {
  state: STATE,
  run: RUN,
  settings: path.join(STATE, 'demo.json'),
  logs: path.join(STATE, 'logs'),
  scratch: path.join(STATE, 'tmp'),
  ec2Data: path.join(STATE, 'ec2'),
  ec2Log: path.join(STATE, 'logs/local-ec2.log'),
  ec2Started: path.join(RUN, 'local-ec2.json'),
  ec2Pid: path.join(RUN, 'local-ec2.pid'),
  dockerData: path.join(STATE, 'docker'),
  dockerConfig: path.join(STATE, 'daemon.json'),
  dockerKey: path.join(STATE, 'docker-key.json'),
  dockerCli: path.join(STATE, 'docker-cli'),
  dockerLog: path.join(STATE, 'logs/dockerd.log'),
  execRoot: path.join(RUN, 'exec'),
  socket: path.join(RUN, 'docker.sock'),
  dockerPid: path.join(RUN, 'dockerd.pid'),
  // The plugin sees the host's /dev (its manifest bind-mounts it), so the simulated instance's device links
  // must live under /dev for berth to find them.
  devdir: '/dev/berth-demo',
};

export const CGROUP_PARENT = 'berth-demo';
export const DOCKER_HOST = `unix://${paths.socket}`;
export const PLUGIN = 'berth/ebs:latest';
export const VOLUME = 'demo-data';
export const IMAGE = 'berth-demo/busybox:latest';
/** Paths dockerd shares with every other daemon on the machine (hard-coded in dockerd 20.10 and containerd). */
export const SHARED_HOST_DIRS = ['/run/docker', '/run/docker/plugins', '/run/containerd', '/run/containerd/s'];
/** Managed plugins' sockets: /run/docker/plugins/<plugin id>/, whatever the exec root. */
export const PLUGIN_SOCKET_ROOT = '/run/docker/plugins';

// The key pair the local endpoint accepts; it signs nothing real.
export const ACCESS_KEY = 'AKIDBERTHDEMO0000001';
export const SECRET_KEY = 'berth-demo-secret-key-not-for-production';

// ---------------------------------------------------------------------------------------------------------------
// Settings chosen on the first run and kept, so a restarted endpoint has the same addresses and instance and the
// plugin's settings stay right.

export interface Settings {
  ec2Port: number;
  imdsPort: number;
  instanceId: string;
  zone: string;
  /** Which of dockerd's shared host directories existed before the demo: demo-clean removes only the others. */
  preexistingHostDirs: string[];
  /** The build/plugin inputs of the installed plugin. */
  pluginBuild?: string;
}

/** The endpoint's first stdout line. */
export interface EndpointStarted {
  ec2: string;
  instances: Array<{ id: string; az: string; imds: string; devdir: string }>;
}

export function loadSettings(): Settings | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths.settings, 'utf8'));
  } catch {
    return undefined;
  }
}

export function saveSettings(settings: Settings): void {
  fs.mkdirSync(path.dirname(paths.settings), { recursive: true });
  fs.writeFileSync(`${paths.settings}.new`, `${JSON.stringify(settings, null, 2)}\n`);
  fs.renameSync(`${paths.settings}.new`, paths.settings);
}

/** The settings of an earlier run, or new ones (two free loopback ports and an instance id). */
export async function settingsForThisMachine(): Promise<Settings> {
  const known = loadSettings();
  if (known) return known;
  const settings: Settings = {
    ec2Port: await freeLoopbackPort(),
    imdsPort: await freeLoopbackPort(),
    instanceId: `i-${crypto.randomBytes(9).toString('hex').slice(0, 17)}`,
    zone: 'us-east-1a',
    preexistingHostDirs: SHARED_HOST_DIRS.filter((dir) => fs.existsSync(dir)),
  };
  saveSettings(settings);
  return settings;
}

export const endpointUrls = (settings: Settings) => ({
  ec2: `http://127.0.0.1:${settings.ec2Port}`,
  imds: `http://127.0.0.1:${settings.imdsPort}`,
});

// ---------------------------------------------------------------------------------------------------------------
// The local EC2 endpoint

export function endpointCommand(settings: Settings): string[] {
  const instance = [
    `id=${settings.instanceId}`,
    `az=${settings.zone}`,
    `imds=127.0.0.1:${settings.imdsPort}`,
    `devdir=${paths.devdir}`,
  ].join(',');
  return [
    process.execPath, CLI, 'local-ec2',
    '--listen', `127.0.0.1:${settings.ec2Port}`,
    '--data-dir', paths.ec2Data,
    '--instance', instance,
    '--delays', 'realistic',
    '--access-key', ACCESS_KEY,
    '--secret-key', SECRET_KEY,
  ];
}

/** The running endpoint ({ pid, started }) if there is one and it answers; else undefined. */
export async function runningEndpoint(): Promise<{ pid: number; started: EndpointStarted } | undefined> {
  const pid = livePid(paths.ec2Pid, paths.ec2Data);
  if (!pid) return undefined;
  let started: EndpointStarted;
  try {
    started = JSON.parse(fs.readFileSync(paths.ec2Started, 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  const state = await getJson(`${started.ec2}/_berth/state`);
  return state ? { pid, started } : undefined;
}

/** Starts the endpoint in the background and waits for its first stdout line (JSON: its URLs and instances). */
export async function startEndpoint(settings: Settings): Promise<{ pid: number; started: EndpointStarted }> {
  for (const dir of [paths.run, paths.logs, paths.ec2Data, paths.devdir]) fs.mkdirSync(dir, { recursive: true });
  // A dead endpoint's pid file would be ignored anyway; an endpoint that is alive but not answering is stopped.
  const stale = livePid(paths.ec2Pid, paths.ec2Data);
  if (stale) await stopProcess(stale, 10_000);
  fs.rmSync(paths.ec2Started, { force: true });
  const [command, ...args] = endpointCommand(settings);
  const pid = startInBackground(command, args, { stdoutFile: paths.ec2Started, stderrFile: paths.ec2Log });
  fs.writeFileSync(paths.ec2Pid, `${pid}\n`);
  const firstLine = () => {
    const text = fs.existsSync(paths.ec2Started) ? fs.readFileSync(paths.ec2Started, 'utf8') : '';
    if (text.includes('\n')) return text.split('\n')[0];
    if (!livePid(paths.ec2Pid, paths.ec2Data)) {
      throw new DemoError('the local EC2 endpoint exited while starting', tail(paths.ec2Log, 15));
    }
    return undefined;
  };
  const line = await waitFor('the local EC2 endpoint to start', firstLine, { timeoutMs: 60_000 });
  return { pid, started: JSON.parse(line) as EndpointStarted };
}

/** Stops the endpoint (its volumes, loop devices and links stay until cleanupEndpoint()). */
export async function stopEndpoint() {
  const pid = livePid(paths.ec2Pid, paths.ec2Data);
  if (pid && !(await stopProcess(pid, 10_000))) throw new DemoError(`the local EC2 endpoint (pid ${pid}) did not stop`);
  fs.rmSync(paths.ec2Pid, { force: true });
  fs.rmSync(paths.ec2Started, { force: true });
  return pid;
}

// ---------------------------------------------------------------------------------------------------------------
// The private Docker daemon

export function dockerdCommand(): string[] {
  return [
    'dockerd',
    '--config-file', paths.dockerConfig,
    '--data-root', paths.dockerData,
    '--exec-root', paths.execRoot,
    '-H', DOCKER_HOST,
    '--pidfile', paths.dockerPid,
    '--storage-driver', 'vfs',
    '--bridge', 'none',
    '--iptables=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--cgroup-parent', `/${CGROUP_PARENT}`,
  ];
}

/** The docker CLI's environment: our daemon, a CLI config of our own, no context or TLS settings of the user's. */
export function dockerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST, DOCKER_CONFIG: paths.dockerCli };
  for (const name of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[name];
  return env;
}

export const docker = (args: string[], options: RunOptions = {}) => runCommand('docker', args, { env: dockerEnv(), ...options });
export const dockerOk = (args: string[], options: RunOptions = {}) => runCommandOk('docker', args, { env: dockerEnv(), ...options });

/** Pid of our dockerd when it is alive (it may still be starting). */
export const dockerdPid = () => livePid(paths.dockerPid, paths.socket);

/** Starts our dockerd in the background (or waits for one that is starting) until the API answers. */
export async function startDockerd(): Promise<number> {
  for (const dir of [paths.run, paths.logs, paths.dockerData, paths.dockerCli]) fs.mkdirSync(dir, { recursive: true });
  // Its only setting: keep the engine's identity key out of /etc/docker.
  fs.writeFileSync(paths.dockerConfig, `${JSON.stringify({ 'deprecated-key-path': paths.dockerKey })}\n`);
  let pid = dockerdPid();
  if (!pid) {
    const env = { ...process.env };
    delete env.DOCKER_HOST;
    const [command, ...args] = dockerdCommand();
    pid = startInBackground(findExecutable(command) ?? command, args, { stdoutFile: paths.dockerLog, env });
  }
  await waitFor('the Docker daemon to answer', async () => {
    if (await pingUnixSocket(paths.socket)) return true;
    if (!isAlive(pid!)) throw new DemoError('dockerd exited while starting', tail(paths.dockerLog, 20));
    return false;
  }, { timeoutMs: 90_000 });
  return pid;
}

/** Stops our dockerd: SIGTERM (it stops its containers and plugins first), SIGKILL after 60 s. */
export async function stopDockerd() {
  const pid = dockerdPid();
  if (pid && !(await stopProcess(pid, 60_000))) throw new DemoError(`dockerd (pid ${pid}) did not stop`);
  return pid;
}

/** Ids of the managed plugins our daemon knows (directories of 64 hex digits in <data root>/plugins). */
export function pluginIds(): string[] {
  try {
    return fs.readdirSync(path.join(paths.dockerData, 'plugins')).filter((name) => /^[0-9a-f]{64}$/.test(name));
  } catch {
    return [];
  }
}

/** The plugin's own lines of the dockerd log (dockerd tags a plugin's output with its id). */
export function pluginLog(lines = 30) {
  const ids = pluginIds();
  return tail(paths.dockerLog, 5000).split('\n').filter((line) => ids.some((id) => line.includes(id))).slice(-lines).join('\n');
}
