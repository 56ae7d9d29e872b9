/**
 * The volume service's operations for Swarm cluster volumes (volumes/operations.ts, ClusterOperations), served by
 * the CSI door: create and delete as Docker's Create and Remove do, publish and unpublish on the controller side
 * (cluster-controller.ts), stage and publish on the node side (cluster-node.ts).
 */
import { liveAttachments } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import { BerthError } from '../common/errors';
import type { AdministrationDeps } from './administration-deps';
import { NodeZones, publishToNode, unpublishFromNode, type ControllerDeps } from './cluster-controller';
import { ClusterNode as NodeSide } from './cluster-node';
import { ClusterTakeovers } from './cluster-takeover';
import type { ClusterNode, ClusterOperations, ClusterVolume } from './operations';
import type { ZoneMoves } from './zone-move';

/**
 * Nitro instances share 28 attachment slots between EBS volumes, network interfaces and instance-store disks: the
 * root volume and one network interface leave 26 (most types; EC2 refuses an attach beyond the true limit).
 */
const VOLUMES_PER_NODE = 26;

export interface ClusterParts extends AdministrationDeps {
  zoneMoves: ZoneMoves;
  /** Names the service hides (a create that failed and is being deleted). */
  hidden(name: string): boolean;
  /** The service's own Create and Remove, with their validation, idempotency and removal policy. */
  create(name: string, options: Record<string, string>): Promise<void>;
  remove(name: string): Promise<void>;
}

function clusterView(volume: CloudVolume): ClusterVolume {
  return {
    name: volume.name,
    volumeId: volume.volumeId,
    sizeGiB: volume.sizeGiB,
    availabilityZone: volume.availabilityZone,
    attachedTo: liveAttachments(volume).map((attachment) => attachment.instanceId),
  };
}

const notFound = (err: unknown) => err instanceof BerthError && err.code === 'not-found';

export class ClusterVolumes implements ClusterOperations {
  private readonly nodeSide: NodeSide;
  private readonly controller: ControllerDeps;

  constructor(private readonly parts: ClusterParts) {
    this.nodeSide = new NodeSide(parts);
    this.controller = { ...parts, takeovers: new ClusterTakeovers(), nodeZones: new NodeZones() };
  }

  async createVolume(name: string, options: Record<string, string>): Promise<ClusterVolume> {
    await this.parts.create(name, options);
    return clusterView(await this.parts.lookUp(name));
  }

  async deleteVolume(name: string): Promise<void> {
    await this.parts.remove(name).catch((err: unknown) => {
      if (!notFound(err)) throw err;
    });
  }

  async describeVolume(name: string): Promise<ClusterVolume | undefined> {
    try {
      return clusterView(await this.parts.lookUp(name));
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async listVolumes(): Promise<ClusterVolume[]> {
    const { volumes } = await this.parts.catalog.list();
    return volumes.filter((volume) => !this.parts.hidden(volume.name)).map(clusterView);
  }

  publishToNode(name: string, nodeId: string, signal: AbortSignal): Promise<Record<string, string>> {
    return publishToNode(name, nodeId, this.controller, signal);
  }

  unpublishFromNode(name: string, nodeId: string, signal: AbortSignal): Promise<void> {
    return unpublishFromNode(name, nodeId, this.controller, signal);
  }

  stage(name: string, publishContext: Record<string, string>, stagingPath: string, signal: AbortSignal): Promise<void> {
    return this.nodeSide.stage(name, publishContext, stagingPath, signal);
  }

  unstage(name: string, stagingPath: string): Promise<void> {
    return this.nodeSide.unstage(name, stagingPath);
  }

  publish(name: string, stagingPath: string, targetPath: string, readonly: boolean): Promise<void> {
    return this.nodeSide.publish(name, stagingPath, targetPath, readonly);
  }

  unpublish(name: string, targetPath: string): Promise<void> {
    return this.nodeSide.unpublish(name, targetPath);
  }

  node(): ClusterNode {
    const { instanceId, availabilityZone } = this.parts.cloud.identity();
    return { nodeId: instanceId, availabilityZone, maxVolumes: VOLUMES_PER_NODE };
  }
}
