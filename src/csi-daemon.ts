/**
 * `berth csi`: the Swarm cluster volume plugin (berth/ebs-csi). It listens on CSI_ENDPOINT first, then connects to
 * EC2 as `berth serve` does, and serves the same volume service through the CSI door. Its volumes live in a
 * namespace of their own (`<namespace>:cluster`), so a classic volume and a cluster volume never share an EBS volume.
 */
import type { Config } from './config';
import { BerthError } from './common/errors';
import { serveCsi } from './csi/server';
import { initialise, serviceWhenReady } from './daemon';
import type { Logger } from './log';
import type { ClusterOperations } from './volumes/operations';
import type { VolumeService } from './volumes/service';
import { BERTH_VERSION } from './version';

export const DEFAULT_CSI_ENDPOINT = '/run/docker/plugins/csi.sock';

/** The EBS_TAG of cluster volumes: their own namespace beside the classic volumes' one. */
export function clusterTag(tag: string): string {
  return `${tag || 'default'}:cluster`;
}

/** `unix:///path` or a bare path, as CSI plugins take CSI_ENDPOINT. */
export function csiSocketPath(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  throw new BerthError('invalid-option', `CSI_ENDPOINT ${JSON.stringify(endpoint.slice(0, 80))} is not unix:///path or an absolute path`);
}

export async function startCsiDaemon(config: Config, endpoint: string, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const clusterConfig: Config = { ...config, tag: clusterTag(config.tag) };
  let service: VolumeService | undefined;
  let initError: unknown;
  let stopping = false;
  let ready: Promise<unknown> = new Promise(() => undefined);
  const operations = async (): Promise<ClusterOperations> => (await serviceWhenReady(() => service, ready, () => initError)).cluster;
  const socketPath = csiSocketPath(endpoint);
  const server = await serveCsi(socketPath, operations, logger);
  ready = initialise(clusterConfig, logger, undefined, (error) => (initError = error), () => stopping).then((started) => (service = started));
  ready.catch(() => undefined);
  logger.info('CSI listening', { version: BERTH_VERSION, node: process.versions.node, socket: socketPath, namespace: clusterConfig.tag });
  return {
    async stop() {
      stopping = true;
      await server.close();
      if (service) await service.shutdown();
      logger.info('stopped');
    },
  };
}
