/**
 * A cluster volume's controller side (the CSI plugin on a Swarm manager): attach to the node a task runs on, named
 * by the CSI node id (an instance id), never simply to the controller's own instance; and detach from it again.
 * Swarm ignores topology, so a task may land in another zone: the volume moves there when its crossAZ option allows,
 * else the publish fails naming both zones and how to pin the service.
 */
import { attachmentTo } from '../cloud/attachments';
import type { InstanceIdentity } from '../cloud/types';
import { BerthError } from '../common/errors';
import type { AdministrationDeps } from './administration-deps';
import type { ClusterTakeovers } from './cluster-takeover';
import type { ZoneMoves } from './zone-move';

export interface ControllerDeps extends AdministrationDeps {
  zoneMoves: ZoneMoves;
  takeovers: ClusterTakeovers;
  nodeZones: NodeZones;
}

/** Instance ids as EC2 writes them; anything else is not a node berth reported. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** How long a node's zone is taken as known (an instance's zone never changes; its existence might). */
const NODE_ZONE_KEPT_MS = 10 * 60_000;

function pinAdvice(zone: string): string {
  return (
    `create it with -o crossAZ=snapshot to let berth move it, or pin the service to nodes of ${zone}: ` +
    `docker node update --label-add zone=${zone} NODE for each, then --constraint node.labels.zone==${zone}`
  );
}

/**
 * The zone of each node berth published to: an instance never changes zone, and Swarm retries a refused publish
 * every 100 ms or so, each of which asked DescribeInstances again. A node that went away meanwhile makes EC2 refuse
 * the attach itself.
 */
export class NodeZones {
  private readonly zones = new Map<string, { zone: string; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async identity(nodeId: string, deps: AdministrationDeps, signal: AbortSignal): Promise<InstanceIdentity> {
    if (!INSTANCE_ID.test(nodeId)) throw new BerthError('invalid-option', `node id ${JSON.stringify(nodeId.slice(0, 40))} is not an EC2 instance id (berth reports i-... as its node id)`);
    const known = this.zones.get(nodeId);
    if (known && this.now() - known.at <= NODE_ZONE_KEPT_MS) return { ...deps.cloud.identity(), instanceId: nodeId, availabilityZone: known.zone };
    const { state, availabilityZone } = await deps.cloud.describeInstance(nodeId, signal);
    if (!availabilityZone || state === 'gone' || state === 'terminated' || state === 'shutting-down') {
      this.zones.delete(nodeId);
      throw new BerthError('not-found', `node ${nodeId} is no instance EC2 can attach to (it is ${state})`);
    }
    this.zones.set(nodeId, { zone: availabilityZone, at: this.now() });
    return { ...deps.cloud.identity(), instanceId: nodeId, availabilityZone };
  }
}

export async function publishToNode(name: string, nodeId: string, deps: ControllerDeps, signal: AbortSignal): Promise<Record<string, string>> {
  const node = await deps.nodeZones.identity(nodeId, deps, signal);
  return deps.underLock(name, async () => {
    let volume = await deps.lookUp(name, signal);
    const present = attachmentTo(volume, nodeId);
    if (present && present.state !== 'detaching') return { volumeId: volume.volumeId, device: present.device };
    volume = await deps.takeovers.freeFor(volume, nodeId, signal, deps);
    if (volume.availabilityZone !== node.availabilityZone) {
      volume = await deps.zoneMoves.bringTo(volume, node, signal, pinAdvice(volume.availabilityZone));
      await deps.catalog.remember(volume);
    }
    const device = await deps.cloud.attachTo(volume.volumeId, nodeId, signal);
    deps.logger.info('cluster volume published to node', { volume: name, volumeId: volume.volumeId, node: nodeId, device });
    return { volumeId: volume.volumeId, device };
  }, signal);
}

export async function unpublishFromNode(name: string, nodeId: string, deps: ControllerDeps, signal: AbortSignal): Promise<void> {
  await deps.underLock(name, async () => {
    const volume = await deps.lookUp(name, signal).catch((err: unknown) => {
      if (err instanceof BerthError && err.code === 'not-found') return undefined;
      throw err;
    });
    if (!volume || !attachmentTo(volume, nodeId)) return;
    await deps.cloud.detach(volume.volumeId, { instanceId: nodeId }, signal);
    deps.logger.info('cluster volume unpublished from node', { volume: name, volumeId: volume.volumeId, node: nodeId });
  }, signal);
}
