/**
 * One swarm node: its own dockerd in its own network, mount and UTS namespaces.
 *
 * A holder process (`cat`, reading a pipe from this process) owns the namespaces; everything else enters them with
 * nsenter, so the node's mounts outlive a killed or restarted dockerd, as a real host's do. Inside the mount
 * namespace (propagation slave: nothing flows back to the host):
 * - a fresh sysfs on /sys (dockerd reads this network namespace's interfaces there), with the host's cgroup tree
 *   moved back on /sys/fs/cgroup ("Devices cgroup isn't mounted" otherwise);
 * - a tmpfs on /run: dockerd's exec root, /run/docker/plugins and containerd's shim sockets are the node's own;
 * - the node's device dir bound at the path every node's plugin is configured with (EBS_DEVICEDIR), so one plugin
 *   setting serves every node while each sees only its own instance's device links.
 * The node reaches the host only through a forwarder in its network namespace: 127.0.0.1:<port> to a unix socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { removeCgroup } from '../support/cgroups';
import { runCommand, runCommandOk, type CommandOutput, type RunOptions } from '../support/commands';
import { dockerEngine, engineEnv, type Dockerd } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { exited, isAlive, killAndWait, namespaceOf, processesMentioning, processesOfNamespace, signal, stopChild, waitForExit } from '../support/processes';
import { pingUnixSocket } from '../support/sockets';

export interface NodeSpec {
  index: number;
  /** e.g. sw1 */
  hostname: string;
  /** the node's network namespace (made by SwarmNetwork) */
  netns: string;
  /** everything the node keeps on the host: data root, config, socket, logs */
  baseDir: string;
  /** the simulated instance's device dir (where the endpoint makes its links) */
  instanceDeviceDir: string;
  /** where the node's plugin looks for devices (EBS_DEVICEDIR), the same path on every node */
  pluginDeviceDir: string;
  /** loopback port inside the node -> unix socket on the host */
  forwards: Record<number, string>;
  /** cgroup parent of the node's containers and plugins */
  cgroupParent: string;
}

const FORWARDER = path.join(__dirname, 'loopback-forwarder.js');
const DOCKERD_START_TIMEOUT_MS = 60_000;

/** Resolves with the child's first stdout line. */
function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => reject(new Error(`${what}: not ready within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${stderr}`));
    });
  });
}

export class SwarmNode implements Dockerd {
  readonly id: string;
  readonly host: string;
  readonly dataRoot: string;
  readonly execRoot = '/run/docker';
  readonly logFile: string;
  readonly env: NodeJS.ProcessEnv;
  startMs = 0;
  serverVersion = '';
  private holder?: ChildProcess;
  private forwarder?: ChildProcess;
  private dockerd?: ChildProcess;
  private mountNamespace?: string;
  private netNamespace?: string;
  private readonly socket: string;
  private readonly configFile: string;
  private stopped = false;

  private constructor(readonly spec: NodeSpec) {
    this.id = spec.hostname;
    this.socket = path.join(spec.baseDir, 'docker.sock');
    this.host = `unix://${this.socket}`;
    this.dataRoot = path.join(spec.baseDir, 'data');
    this.logFile = path.join(spec.baseDir, 'dockerd.log');
    this.configFile = path.join(spec.baseDir, 'daemon.json');
    const cliConfig = path.join(spec.baseDir, 'cli');
    this.env = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: cliConfig };
    delete this.env.DOCKER_CONTEXT;
    delete this.env.DOCKER_TLS_VERIFY;
    delete this.env.DOCKER_CERT_PATH;
  }

  /** Namespaces, mounts, forwarder and dockerd; on failure everything already made is removed. */
  static async start(spec: NodeSpec): Promise<SwarmNode> {
    const node = new SwarmNode(spec);
    try {
      await node.setUp();
      await node.startDockerd();
    } catch (err) {
      await node.stop().catch(() => undefined);
      throw err;
    }
    return node;
  }

  get pid(): number {
    return this.dockerd?.pid ?? -1;
  }

  docker(args: string[], options: RunOptions = {}): Promise<CommandOutput> {
    return runCommand('docker', args, { ...options, env: this.env });
  }

  async dockerOk(args: string[], options: RunOptions = {}): Promise<string> {
    const out = await this.docker(args, options);
    if (out.code !== 0) {
      throw new Error(`${this.id}: docker ${args.join(' ')}: ${out.timedOut ? 'timed out' : `exit ${out.code}`}\n${out.stderr.trim() || out.stdout.trim()}`);
    }
    return out.stdout;
  }

  /** One Docker Engine API request over the node's socket (what the CLI sends, without its start-up time). */
  api(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown, timeoutMs = 120_000): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          socketPath: this.socket,
          path: route,
          method,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          timeout: timeoutMs,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${this.id}: ${method} ${route}: no answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  /** The node's mount table (/proc/<pid>/mountinfo of a process in its mount namespace). */
  mountinfo(): string {
    return fs.readFileSync(`/proc/${this.holder!.pid}/mountinfo`, 'utf8');
  }

  /** For failure messages: the volume mounts the node sees, and those each berth process sees (its pid first). */
  mountReport(): string {
    const interesting = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.includes('propagated-mount') || line.includes('/var/lib/libstorage'))
        .filter((line) => !line.includes(' - ext4 /dev/vda') || line.includes(this.dataRoot) || line.includes('/var/lib/libstorage'))
        .map((line) => `    ${line.split(' - ')[0]} - ${line.split(' - ')[1]?.split(' ').slice(0, 2).join(' ')}`)
        .join('\n');
    const lines = [`${this.id} mount namespace:`, interesting(this.mountinfo())];
    for (const pid of processesMentioning('/berth/cli.js')) {
      try {
        const info = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
        if (!info.includes(this.dataRoot)) continue;
        lines.push(`berth pid ${pid}:`, interesting(info));
      } catch {
        // exited meanwhile
      }
    }
    const dockerdErrors = this.log()
      .split('\n')
      .filter((line) => /level=(error|fatal)/.test(line) && /plugin|propagat|mount/i.test(line))
      .slice(-10);
    if (dockerdErrors.length > 0) lines.push(`${this.id} dockerd errors about plugins and mounts:`, ...dockerdErrors.map((line) => `    ${line}`));
    return lines.join('\n');
  }

  /** Runs a command inside the node's namespaces (mount, UTS, network). */
  run(command: string, args: string[], options: RunOptions = {}): Promise<CommandOutput> {
    return runCommand('nsenter', ['-t', String(this.holder!.pid), '-m', '-u', '-n', '--', command, ...args], options);
  }

  async startDockerd(): Promise<void> {
    if (this.dockerd && !exited(this.dockerd)) throw new Error(`${this.id}: dockerd already running`);
    await this.waitForOldContainerd();
    const args = [
      '-t', String(this.holder!.pid), '-m', '-u', '-n', '--',
      dockerEngine().dockerd,
      '--config-file', this.configFile,
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '-H', this.host,
      '--pidfile', '/run/docker.pid',
      '--storage-driver', 'vfs',
      '--bridge', 'none',
      '--iptables=false',
      '--ip-masq=false',
      '--userland-proxy=false',
      '--cgroup-parent', this.spec.cgroupParent,
    ];
    const log = fs.openSync(this.logFile, 'a');
    const env = engineEnv({ ...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1' });
    delete env.DOCKER_HOST;
    const started = Date.now();
    const child = spawn('nsenter', args, { stdio: ['ignore', log, log], env });
    fs.closeSync(log);
    this.dockerd = child;
    const answering = async () => {
      if (await pingUnixSocket(this.socket, '/_ping', 1000)) return true;
      if (exited(child)) throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before answering`);
      return false;
    };
    await waitFor(`${this.id}: dockerd to answer`, answering, { timeoutMs: DOCKERD_START_TIMEOUT_MS, intervalMs: 100 }).catch((err: Error) => {
      throw new Error(`${this.id}: ${err.message}\n${this.logTail()}`);
    });
    this.startMs = Date.now() - started;
    this.serverVersion = (await this.dockerOk(['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], { timeoutMs: 30_000 })).trim();
  }

  /**
   * A killed dockerd's containerd dies with it but stays a zombie until init reaps it; dockerd refuses to start while
   * the pid in containerd's pid file exists ("containerd is still running", then a timeout). An init such as systemd
   * reaps at once; this machine's PID 1 does so only every few seconds, so wait for it (bounded).
   */
  private async waitForOldContainerd(timeoutMs = 30_000): Promise<void> {
    let pid: string;
    try {
      pid = fs.readFileSync(`/proc/${this.holder!.pid}/root${this.execRoot}/containerd/containerd.pid`, 'utf8').trim();
    } catch {
      return; // never started, or cleaned up
    }
    if (!/^\d+$/.test(pid)) return;
    const reaped = () => !fs.existsSync(`/proc/${pid}`) || isAlive(Number(pid));
    await waitFor(`${this.id}: init to reap the old containerd (pid ${pid})`, reaped, { timeoutMs, intervalMs: 100 });
  }

  /** Kills dockerd as a crash would: its containers, plugins and mounts stay. */
  async killDockerd(): Promise<void> {
    const child = this.dockerd;
    if (!child || exited(child)) return;
    child.kill('SIGKILL');
    await waitForExit(child, 10_000);
  }

  /** SIGTERM (dockerd stops its containers and plugins), SIGKILL after the bound. */
  async stopDockerd(timeoutMs = 40_000): Promise<void> {
    if (this.dockerd) await stopChild(this.dockerd, timeoutMs);
  }

  logTail(lines = 30): string {
    return this.log().split('\n').slice(-lines).join('\n');
  }

  /** Everything goes: dockerd, every process of the node, its namespaces' mounts, cgroups and files. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const problems: string[] = [];
    await this.stopDockerd().catch((err: Error) => problems.push(err.message));
    if (this.mountNamespace) {
      const left = await killAndWait(processesOfNamespace(this.mountNamespace, 'mnt'));
      if (left.length > 0) problems.push(`${this.id}: processes still alive: ${left.join(', ')}`);
    }
    const inNet = this.netNamespace ? processesOfNamespace(this.netNamespace, 'net') : [];
    if (this.forwarder) signal(this.forwarder.pid!, 'SIGKILL');
    if (this.holder) signal(this.holder.pid!, 'SIGKILL');
    await killAndWait([...inNet, ...[this.forwarder?.pid, this.holder?.pid].filter((pid): pid is number => pid !== undefined)]);
    const cgroupsLeft = removeCgroup(this.spec.cgroupParent.replace(/^\//, ''));
    if (cgroupsLeft.length > 0) problems.push(`${this.id}: cgroups still in use: ${cgroupsLeft.join(', ')}`);
    // The node's mounts lived in its own namespace; none may show through on the host before files are removed.
    const visible = mountsUnder([this.spec.baseDir]);
    if (visible.length > 0) problems.push(`${this.id}: mounted on the host, files kept: ${visible.join(', ')}`);
    else fs.rmSync(this.spec.baseDir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }

  private async setUp(): Promise<void> {
    const { baseDir, netns, hostname, instanceDeviceDir, pluginDeviceDir, forwards } = this.spec;
    fs.mkdirSync(this.dataRoot, { recursive: true });
    fs.mkdirSync(path.join(baseDir, 'cli'), { recursive: true });
    fs.mkdirSync(path.join(baseDir, 'cgroup'), { recursive: true });
    fs.mkdirSync(instanceDeviceDir, { recursive: true });
    fs.mkdirSync(pluginDeviceDir, { recursive: true });
    // The engine key (its identity in the swarm) kept out of /etc/docker: each node has its own.
    fs.writeFileSync(this.configFile, `${JSON.stringify({ 'deprecated-key-path': path.join(baseDir, 'key.json') })}\n`);

    const holder = spawn('nsenter', [`--net=/run/netns/${netns}`, 'unshare', '--mount', '--uts', '--propagation', 'slave', '--', 'cat'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    this.holder = holder;
    holder.stdin!.on('error', () => undefined);
    const inOwnNamespace = () => {
      if (exited(holder)) throw new Error(`${this.id}: the namespace holder exited`);
      const own = namespaceOf(holder.pid!, 'mnt');
      return own !== undefined && own !== namespaceOf(process.pid, 'mnt');
    };
    await waitFor(`${this.id}: the namespace holder to enter its namespaces`, inOwnNamespace, { timeoutMs: 10_000, intervalMs: 20 });
    this.mountNamespace = namespaceOf(holder.pid!, 'mnt');
    this.netNamespace = namespaceOf(holder.pid!, 'net');

    const inside = (command: string, args: string[]) => runCommandOk('nsenter', ['-t', String(holder.pid), '-m', '-u', '-n', '--', command, ...args]);
    const cgroupAside = path.join(baseDir, 'cgroup');
    await inside('hostname', [hostname]);
    await inside('mount', ['--rbind', '/sys/fs/cgroup', cgroupAside]);
    await inside('mount', ['-t', 'sysfs', 'sysfs', '/sys']);
    await inside('mount', ['--move', cgroupAside, '/sys/fs/cgroup']);
    await inside('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run']);
    await inside('mount', ['--bind', instanceDeviceDir, pluginDeviceDir]);

    const forwarderArgs = Object.entries(forwards).map(([port, socketPath]) => `${port}=${socketPath}`);
    const forwarder = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, FORWARDER, ...forwarderArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.forwarder = forwarder;
    forwarder.stdin!.on('error', () => undefined);
    const ready = await firstLine(forwarder, `${this.id}: loopback forwarder`, 15_000);
    if (ready !== 'ready') throw new Error(`${this.id}: loopback forwarder said ${JSON.stringify(ready)}`);
  }

  /** True while the holder (and so the node's namespaces) is alive. */
  alive(): boolean {
    return this.holder?.pid !== undefined && isAlive(this.holder.pid);
  }
}
