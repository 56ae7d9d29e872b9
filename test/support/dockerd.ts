/**
 * A private Docker daemon for end-to-end tests: its own config file, data root, exec root, socket and pid file,
 * vfs storage and no networking set-up, so the machine's Docker (/etc/docker, /var/lib/docker, /run/docker.sock)
 * is never touched. stop() ends only what start() began and removes what it left.
 *
 * Paths dockerd 20.10 hard-codes and shares with any other daemon on the machine:
 * - /run/docker/plugins: managed plugin sockets live in /run/docker/plugins/<plugin id>/ whatever --exec-root
 *   says (ids are random, so two daemons do not collide); dockerd recreates the directory when it needs it.
 * - /run/containerd/s: containerd's shims put their sockets there.
 * - /etc/docker/key.json (the engine's identity key) unless daemon.json names another: ours does.
 * Directories of these that did not exist before start() are removed by stop() when empty.
 * Containers get the cgroup parent /bt-<id> (dockerd's default, /docker, would be shared with other daemons).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeCgroup } from './cgroups';
import { findExecutable, runCommand, runCommandForBytes, runCommandOk, type CommandOutput, type RunOptions } from './commands';
import { unmountAllUnder } from './mounts';
import { waitFor } from './poll';
import { descendantsOf, exited, killAndWait, processesMentioning, stopChild } from './processes';
import { freeLoopbackPort, pingUnixSocket } from './sockets';

/** A Docker engine to test against (test/support/docker-engines.mjs): its dockerd and the folders first in PATH. */
export interface DockerEngine {
  name: string;
  dockerd: string;
  binDirs: string[];
  /** The Debian package it comes from. */
  package: string;
}

let engine: DockerEngine | undefined;

/** The engine DOCKER_ENGINE names (bookworm, the installed docker.io, unless set), fetched on first use. */
export function dockerEngine(): DockerEngine {
  engine ??= JSON.parse(
    execFileSync(process.execPath, [path.join(__dirname, 'docker-engines.mjs'), process.env.DOCKER_ENGINE || 'bookworm'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 900_000,
    }),
  ) as DockerEngine;
  return engine;
}

/** The environment dockerd runs with: the engine's own programs (docker-init, docker-proxy) first in PATH. */
export function engineEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { binDirs } = dockerEngine();
  return { ...env, PATH: [...binDirs, env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') };
}

/** Docker 28 is the first engine that serves Swarm cluster volumes from a CSI plugin (26.1 cannot at all). */
const FIRST_ENGINE_WITH_CSI = 28;

/** Why the chosen engine cannot serve cluster volumes from a CSI plugin, or undefined when it can. */
export function missingCsiEngine(): string | undefined {
  const { package: debianPackage } = dockerEngine();
  const major = debianPackage.includes('(installed)') ? 20 : Number(/docker\.io_(\d+)\./.exec(debianPackage)?.[1] ?? 0);
  if (major >= FIRST_ENGINE_WITH_CSI) return undefined;
  return `Docker ${major} cannot serve Swarm cluster volumes from a CSI plugin (Docker ${FIRST_ENGINE_WITH_CSI} or later can; DOCKER_ENGINE=sid)`;
}

/** Why a private dockerd cannot run here, or undefined when it can. */
export function missingDocker(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const command of ['dockerd', 'docker', 'containerd', 'runc']) {
    if (!findExecutable(command)) return `${command} is not installed`;
  }
  if (!findExecutable('busybox')) return 'busybox (Debian busybox-static) is not installed';
  return undefined;
}

/** Why a private registry cannot run here, or undefined when it can. */
export function missingRegistry(): string | undefined {
  return findExecutable('docker-registry') ? undefined : 'docker-registry (Debian package docker-registry) is not installed';
}

/** Where dockerd 20.10 puts managed plugins' sockets, whatever its exec root: <here>/<plugin id>/<socket>. */
const PLUGIN_SOCKET_ROOT = '/run/docker/plugins';

/** Ids of the managed plugins a daemon knows (directories of 64 hex digits in <data root>/plugins). */
function pluginIdsOf(dataRoot: string): string[] {
  try {
    return fs.readdirSync(path.join(dataRoot, 'plugins')).filter((name) => /^[0-9a-f]{64}$/.test(name));
  } catch {
    return [];
  }
}

/** Host paths dockerd or containerd create outside the directories we give them (see the header). */
const SHARED_HOST_DIRS = ['/run/docker', '/run/docker/plugins', '/run/containerd', '/run/containerd/s'];

export interface StartOptions {
  /** Bound of the wait for `docker info` to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** Extra dockerd flags. */
  args?: string[];
}

export interface Dockerd {
  /** DOCKER_HOST value: unix:///run/bt-<id>.sock */
  readonly host: string;
  readonly id: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logFile: string;
  /** The current dockerd process (changes on restart). */
  readonly pid: number;
  /** Milliseconds from spawning dockerd to `docker info` answering. */
  readonly startMs: number;
  /** What the engine says it is: "28.5.2+dfsg4 (API 1.51)". */
  readonly serverVersion: string;
  /** Environment for the docker CLI against this daemon (DOCKER_HOST, a private DOCKER_CONFIG). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon. Default timeout 60 s. */
  docker(args: string[], options?: RunOptions): Promise<CommandOutput>;
  /** Like docker(), but throws (with the command's stderr) unless it exits 0; returns stdout. */
  dockerOk(args: string[], options?: RunOptions): Promise<string>;
  /** The daemon's log (plugin output included, tagged with the plugin id). */
  log(): string;
  /** Stops the daemon (SIGTERM, then SIGKILL) and removes everything it left. Idempotent. */
  stop(): Promise<void>;
}

/** The daemon startDockerd() runs. */
export interface PrivateDockerd extends Dockerd {
  /**
   * Stops the daemon as a service manager restarts it (SIGTERM, wait) and starts it again on the same directories;
   * resolves when it answers, with the milliseconds that took.
   */
  restart(): Promise<number>;
}

/**
 * Starts a private dockerd and waits until `docker info` answers.
 * Names: /run/bt-<id> (exec root), /run/bt-<id>.sock, /run/bt-<id>.pid, and a temp dir for config, data and logs.
 */
export async function startDockerd(options: StartOptions = {}): Promise<PrivateDockerd> {
  const id = crypto.randomBytes(3).toString('hex');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `bt-dockerd-${id}-`));
  const dataRoot = path.join(base, 'data');
  const execRoot = `/run/bt-${id}`;
  const socket = `/run/bt-${id}.sock`;
  const pidFile = `/run/bt-${id}.pid`;
  const configFile = path.join(base, 'daemon.json');
  const logFile = path.join(base, 'dockerd.log');
  const cliConfig = path.join(base, 'cli');
  fs.mkdirSync(dataRoot);
  fs.mkdirSync(cliConfig);
  // The only setting: keep the engine key out of /etc/docker.
  fs.writeFileSync(configFile, `${JSON.stringify({ 'deprecated-key-path': path.join(base, 'key.json') })}\n`);
  const preexisting = new Set(SHARED_HOST_DIRS.filter((dir) => fs.existsSync(dir)));

  const args = [
    '--config-file', configFile,
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '-H', `unix://${socket}`,
    '--pidfile', pidFile,
    '--storage-driver', 'vfs',
    '--bridge', 'none',
    '--iptables=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    // Containers' cgroups under a parent of our own, removed by stop().
    '--cgroup-parent', `/bt-${id}`,
    ...(options.args ?? []),
  ];
  const launch = (): ChildProcess => {
    const logFd = fs.openSync(logFile, 'a');
    try {
      const { dockerd } = dockerEngine();
      return spawn(dockerd === 'dockerd' ? (findExecutable('dockerd') ?? dockerd) : dockerd, args, { stdio: ['ignore', logFd, logFd], env: engineEnv({ ...process.env, DOCKER_HOST: undefined }) });
    } finally {
      fs.closeSync(logFd);
    }
  };
  const started = Date.now();
  let child = launch();
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cliConfig };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;

  const docker = (dockerArgs: string[], runOptions: RunOptions = {}) => runCommand('docker', dockerArgs, { ...runOptions, env });
  let stopped = false;

  /** SIGTERM; dockerd stops its containers and plugins first (a plugin gets SIGTERM, then SIGKILL after 10 s). */
  const terminate = () => stopChild(child, 30_000);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Plugins removed before the stop are named only in the log; a failed enable leaves their socket directory too.
    const logged = fs.existsSync(logFile) ? [...fs.readFileSync(logFile, 'utf8').matchAll(/plugin=([0-9a-f]{64})\b/g)].map((match) => match[1]) : [];
    const pluginIds = [...new Set([...pluginIdsOf(dataRoot), ...logged])];
    await terminate();
    // After a SIGKILL, containerd shims (and what they run) outlive dockerd: they all name our exec root.
    const shims = processesMentioning(`${execRoot}/`);
    await killAndWait([...descendantsOf(shims), ...shims]);

    const remaining = await unmountAllUnder([dataRoot, execRoot]);
    if (remaining.length > 0) {
      // Never delete through a mount point: it may be a volume or a bind of a host directory.
      throw new Error(`private dockerd ${id}: still mounted, directories kept: ${remaining.join(', ')}`);
    }
    for (const target of [execRoot, socket, pidFile, base]) fs.rmSync(target, { recursive: true, force: true });
    // A plugin killed with its daemon leaves its socket directory and cgroups (named by plugin id) behind.
    for (const pluginId of pluginIds) fs.rmSync(path.join(PLUGIN_SOCKET_ROOT, pluginId), { recursive: true, force: true });
    for (const name of [`bt-${id}`, ...pluginIds]) removeCgroup(name);
    for (const dir of [...SHARED_HOST_DIRS].reverse()) {
      if (preexisting.has(dir)) continue;
      try {
        fs.rmdirSync(dir); // only when empty: another daemon may be using it now
      } catch {
        // not empty or already gone
      }
    }
  };

  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  let serverVersion = '';
  const waitUntilAnswering = async (since: number) => {
    const answering = async () => {
      if (await pingUnixSocket(socket, '/_ping', 1000)) return true;
      if (exited(child)) throw new Error(`dockerd exited with ${child.exitCode ?? child.signalCode} before answering`);
      return false;
    };
    await waitFor('dockerd to answer', answering, { timeoutMs: since + startTimeoutMs - Date.now(), intervalMs: 100 });
    serverVersion = (await runCommandOk('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], { timeoutMs: 30_000, env })).trim();
  };
  const failed = (err: unknown) => {
    const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
    return new Error(`private dockerd ${id}: ${(err as Error).message}\n${tail}`);
  };
  try {
    await waitUntilAnswering(started);
  } catch (err) {
    await stop().catch(() => undefined);
    throw failed(err);
  }
  const startMs = Date.now() - started;

  return {
    host: `unix://${socket}`,
    id,
    dataRoot,
    execRoot,
    logFile,
    get pid() {
      return child.pid ?? -1;
    },
    startMs,
    get serverVersion() {
      return serverVersion;
    },
    env,
    docker,
    dockerOk: (dockerArgs, runOptions = {}) => runCommandOk('docker', dockerArgs, { ...runOptions, env }),
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    async restart() {
      if (stopped) throw new Error(`private dockerd ${id} was stopped`);
      const since = Date.now();
      await terminate();
      child = launch();
      try {
        await waitUntilAnswering(since);
      } catch (err) {
        throw failed(err);
      }
      return Date.now() - since;
    },
    stop,
  };
}

/**
 * Imports a tiny image made from Debian's static busybox: /bin/busybox plus a link per applet, so
 * `docker run IMAGE sh -c '...'` works. Containers should run with `--network none`.
 */
export async function importBusyboxImage(dockerd: Dockerd, tag = 'berth-test/busybox:latest'): Promise<string> {
  const busybox = findExecutable('busybox');
  if (!busybox) throw new Error('busybox is not installed (Debian package busybox-static)');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-busybox-'));
  try {
    for (const dir of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'data']) fs.mkdirSync(path.join(staging, dir));
    fs.chmodSync(path.join(staging, 'tmp'), 0o1777);
    fs.copyFileSync(busybox, path.join(staging, 'bin/busybox'));
    fs.chmodSync(path.join(staging, 'bin/busybox'), 0o755);
    const applets = await runCommandOk(busybox, ['--list'], { timeoutMs: 10_000 });
    for (const applet of applets.split('\n').map((name) => name.trim())) {
      if (applet && applet !== 'busybox' && /^[a-z0-9_.[-]+$/.test(applet)) fs.symlinkSync('busybox', path.join(staging, 'bin', applet));
    }
    fs.writeFileSync(path.join(staging, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    fs.writeFileSync(path.join(staging, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = await runCommandForBytes('tar', ['-C', staging, '-c', '.']);
    await dockerd.dockerOk(['import', '--change', 'CMD ["/bin/sh"]', '-', tag], { input: tar, timeoutMs: 120_000 });
    return tag;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

export interface Registry {
  /** host:port, e.g. 127.0.0.1:40123 (dockerd allows plain HTTP to loopback registries). */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * A private Docker registry (Debian's docker-registry) on loopback with its storage in a temp dir,
 * for `docker plugin push` and `docker plugin install`.
 */
export async function startRegistry(startTimeoutMs = 30_000): Promise<Registry> {
  const registry = findExecutable('docker-registry');
  if (!registry) throw new Error('docker-registry is not installed (Debian package docker-registry)');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-registry-'));
  const port = await freeLoopbackPort();
  const config = [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(path.join(base, 'data'))} }, delete: { enabled: true } }`,
    `http: { addr: "127.0.0.1:${port}" }`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(base, 'config.yml'), config);
  const logFd = fs.openSync(path.join(base, 'registry.log'), 'a');
  const child = spawn(registry, ['serve', path.join(base, 'config.yml')], { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  const stop = async () => {
    await stopChild(child, 10_000);
    fs.rmSync(base, { recursive: true, force: true });
  };
  const answering = async () => {
    if (exited(child)) throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
    return fetch(`http://127.0.0.1:${port}/v2/`).then((response) => response.ok, () => false);
  };
  try {
    await waitFor(`docker-registry to answer on 127.0.0.1:${port}`, answering, { timeoutMs: startTimeoutMs, intervalMs: 100 });
  } catch (err) {
    const log = fs.readFileSync(path.join(base, 'registry.log'), 'utf8');
    await stop();
    throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${(err as Error).message}: ${log.slice(-2000)}`);
  }
  return { address: `127.0.0.1:${port}`, stop };
}
