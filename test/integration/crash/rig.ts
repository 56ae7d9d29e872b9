/**
 * One berth daemon on the local EC2 endpoint, killed (SIGKILL) at an exact step and restarted on the same state
 * directories, with what a crash test needs to look at: EC2 calls answered and under way, the volume's backing
 * file, loop devices and attachment, mounts, state files, and the host tools the daemon ran. A second instance, in
 * another zone of the region, gets a daemon only while a test prepares a volume there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../support/daemon';
import { startLocalEc2, type EndpointInstance, type LocalEc2 } from '../../support/local-ec2';
import { mountsUnder, unmountAllUnder } from '../../support/mounts';
import { ToolGates } from './tool-gates';

type Daemon = RunningDaemon & { root: string };

export interface Call {
  seq: number;
  action: string;
  volumeId?: string;
  result: string;
}

export interface EndpointVolume {
  id: string;
  tags: Record<string, string>;
  availabilityZone: string;
  lifecycle: string;
  attachment?: { instanceId: string; status: string; loopDevice?: string };
}

/** A bounded poll (the toolkit's own is being reshaped; this one stays local). */
export async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export class CrashRig {
  endpoint!: LocalEc2;
  gates!: ToolGates;
  daemon!: Daemon;
  private gatesRoot = '';
  private otherZoneRoot?: string;
  private readonly daemonRoots = new Set<string>();

  async start(): Promise<void> {
    this.endpoint = await startLocalEc2(['id=i-0c0a5e0000000c0a1,az=us-east-1a', 'id=i-0c0a5e0000000c0b1,az=us-east-1b']);
    this.gatesRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-crash-'));
    this.gates = new ToolGates(this.gatesRoot);
    await this.restart();
  }

  /** Starts the daemon, on the state of the last one if there was one; `env` holds until the next restart. */
  async restart(env: Record<string, string> = {}): Promise<void> {
    this.daemon = await this.startOn(this.endpoint.instances[0], this.daemon?.root, env);
  }

  /** Stops the daemon (SIGTERM) and starts it again with these settings. */
  async reconfigure(env: Record<string, string>): Promise<void> {
    await this.daemon.stop();
    await this.restart(env);
  }

  /** Runs work with a daemon of the instance in the other zone taking the calls, stopped before this one's are back. */
  async inOtherZone(work: () => Promise<void>): Promise<void> {
    const here = this.daemon;
    this.daemon = await this.startOn(this.endpoint.instances[1], this.otherZoneRoot, {});
    this.otherZoneRoot = this.daemon.root;
    try {
      await work();
    } finally {
      await this.daemon.stop();
      this.daemon = here;
    }
  }

  private async startOn(instance: EndpointInstance, root: string | undefined, env: Record<string, string>): Promise<Daemon> {
    const daemon = await startDaemon({ ec2: this.endpoint.ec2, instance, dirs: root ? { root } : undefined, env: { PATH: this.gates.path(), ...env } });
    this.daemonRoots.add(daemon.root);
    return daemon;
  }

  /** The crash: the daemon and, as in its plugin container, every child it left. */
  async crash(): Promise<void> {
    await this.daemon.kill();
    this.gates.killHeld();
  }

  async call(method: string, body: object): Promise<any> {
    const reply = await this.daemon.call(method, body);
    if (reply.body.Err) throw new Error(`${method} ${JSON.stringify(body)}: ${reply.body.Err}`);
    return reply.body;
  }

  async faults(spec: object): Promise<void> {
    await this.endpoint.admin('POST', 'faults', spec);
  }

  calls(since = 0): Promise<Call[]> {
    return this.endpoint.admin('GET', `calls?since=${since}`);
  }

  async lastSeq(): Promise<number> {
    const all = await this.calls();
    return all.length ? all[all.length - 1].seq : 0;
  }

  inflight(): Promise<Array<{ action: string; volumeId?: string }>> {
    return this.endpoint.admin('GET', 'inflight');
  }

  async volumes(): Promise<EndpointVolume[]> {
    const state = await this.endpoint.admin('GET', 'state');
    return (state.volumes as Array<EndpointVolume & { rootOf?: string }>).filter((volume) => !volume.rootOf);
  }

  /** EC2 volumes carrying this berth name (whatever their state). */
  async volumesNamed(name: string): Promise<EndpointVolume[]> {
    return (await this.volumes()).filter((volume) => volume.tags['berth:name'] === name);
  }

  /** A state file of the daemon (pending-detaches.json, ...) as it is on disk. */
  stateFile(name: string): any {
    const file = path.join(this.daemon.stateDir, name);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
  }

  imageOf(volumeId: string): string {
    return path.join(this.endpoint.dataDir, 'volumes', `${volumeId}.img`);
  }

  loopDevicesOf(volumeId: string): string[] {
    const image = this.imageOf(volumeId);
    if (!fs.existsSync(image)) return [];
    return execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).split('\n').filter(Boolean);
  }

  /** The filesystem UUID in the volume's backing file, read without attaching it. */
  filesystemUuid(volumeId: string): string {
    try {
      return execFileSync('blkid', ['-p', '-s', 'UUID', '-o', 'value', this.imageOf(volumeId)], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  }

  mounts(): string[] {
    return [...this.daemonRoots].flatMap((root) => mountsUnder(root));
  }

  logTail(lines = 30): string {
    return this.daemon.logs.join('').split('\n').slice(-lines).join('\n');
  }

  async destroy(): Promise<void> {
    this.gates?.reset();
    await this.daemon?.stop().catch(() => undefined);
    for (const root of this.daemonRoots) {
      unmountAllUnder(root);
      fs.rmSync(root, { recursive: true, force: true });
    }
    await this.endpoint?.destroy();
    if (this.gatesRoot) fs.rmSync(this.gatesRoot, { recursive: true, force: true });
  }
}
