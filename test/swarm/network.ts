/**
 * The swarm's network: a bridge in a network namespace of its own (the host firewall drops forwarded traffic across
 * a bridge in the root namespace), one namespace per node joined to it by a veth pair, 10.77.0.N/24 addresses and
 * no default route. Nothing is created in the root namespace, so nothing can leave the test subnet.
 */
import { runCommand, runCommandOk } from '../support/commands';

const SUBNET_PREFIX = '10.77.0';

async function ip(args: string[]): Promise<void> {
  await runCommandOk('ip', args, { timeoutMs: 15_000 });
}

export class SwarmNetwork {
  readonly switchNamespace: string;
  private readonly nodes = new Set<number>();
  private switchCreated = false;

  constructor(private readonly runId: string) {
    this.switchNamespace = `bt${runId}-sw`;
  }

  nodeNamespace(index: number): string {
    return `bt${this.runId}-n${index}`;
  }

  /** The node's address on the swarm subnet (nodes count from 1). */
  address(index: number): string {
    return `${SUBNET_PREFIX}.${index}`;
  }

  async createSwitch(): Promise<void> {
    await ip(['netns', 'add', this.switchNamespace]);
    this.switchCreated = true;
    await ip(['-n', this.switchNamespace, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', this.switchNamespace, 'link', 'set', 'br0', 'up']);
  }

  /** The node's namespace with loopback up and eth0 plugged into the bridge. */
  async addNode(index: number): Promise<string> {
    const ns = this.nodeNamespace(index);
    await ip(['netns', 'add', ns]);
    this.nodes.add(index);
    await ip(['-n', this.switchNamespace, 'link', 'add', this.port(index), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', this.switchNamespace, 'link', 'set', this.port(index), 'master', 'br0', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${this.address(index)}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Unplugs the node: it keeps its loopback (and so EC2), but no other node reaches it. */
  async cut(index: number): Promise<void> {
    await ip(['-n', this.switchNamespace, 'link', 'set', this.port(index), 'down']);
  }

  async restore(index: number): Promise<void> {
    await ip(['-n', this.switchNamespace, 'link', 'set', this.port(index), 'up']);
  }

  /** Deletes the namespaces (their veths go with them). Returns what could not be removed. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    const names = [...[...this.nodes].map((index) => this.nodeNamespace(index)), ...(this.switchCreated ? [this.switchNamespace] : [])];
    for (const name of names) {
      const out = await runCommand('ip', ['netns', 'del', name], { timeoutMs: 15_000 });
      if (out.code !== 0) problems.push(`ip netns del ${name}: ${out.stderr.trim()}`);
    }
    this.nodes.clear();
    this.switchCreated = false;
    return problems;
  }

  private port(index: number): string {
    return `n${index}`;
  }
}
