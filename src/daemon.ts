/**
 * `berth serve`: listen on the plugin socket first (Docker gives a managed plugin about 9.5 s), then connect to
 * EC2 and the instance metadata service, retrying until it works; calls that need the driver wait for it.
 */
import fs from 'node:fs';
import type http from 'node:http';
import { bindSocket, createApp, type PluginSocket } from './api/server';
import { redactedConfig, type Config } from './config';
import { BerthError, errorMessage } from './common/errors';
import { LinuxHost } from './host/linux';
import type { Logger } from './log';
import { VolumeService } from './volumes/service';
import type { VolumeOperations } from './volumes/operations';
import { StartingDriver } from './volumes/starting';
import { BERTH_VERSION } from './version';
import { NO_TELEMETRY, timedSteps, type Telemetry } from './common/telemetry';
import type { Cloud } from './cloud/types';
import type { Host } from './host/types';
import type { DoctorCheck } from './common/checks';
import { adminSocketBeside } from './admin/protocol';
import { serveAdmin } from './admin/server';
import type { DoctorReport } from './volumes/operations';

/** How long a call that needs the volume service waits for it while berth starts. */
const READY_WAIT_MS = 20_000;
/** The steps of a volume's life the metrics time (berth_volume_step_duration_seconds), by the method doing each. */
const CLOUD_STEPS: Partial<Record<keyof Cloud, string>> = { create: 'create', attach: 'attach', detach: 'detach', delete: 'delete', modifyVolume: 'modify', moveToZone: 'zone-move' };
const HOST_STEPS: Partial<Record<keyof Host, string>> = {
  format: 'format',
  check: 'fsck',
  mount: 'mount',
  unmount: 'unmount',
  growBeforeMount: 'grow',
  growAfterMount: 'grow',
  growMounted: 'grow',
};
const INIT_RETRY_MAX_MS = 30_000;

export interface Daemon {
  server: http.Server;
  ready: Promise<VolumeService>;
  stop(): Promise<void>;
}

/**
 * The volume service once it is up: a call made while berth still connects waits up to READY_WAIT_MS for it, then is
 * refused with 'not-ready', naming what start-up is stuck on.
 */
export async function serviceWhenReady(current: () => VolumeService | undefined, ready: Promise<unknown>, initError: () => unknown): Promise<VolumeService> {
  const now = current();
  if (now) return now;
  await Promise.race([ready.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, READY_WAIT_MS).unref())]);
  const started = current();
  if (started) return started;
  const error = initError();
  throw new BerthError('not-ready', `berth is not ready yet: ${error ? errorMessage(error) : 'still connecting to EC2'}`);
}

/** `socket`: the plugin socket, when the caller bound it already (to listen before loading anything heavy). */
export async function startDaemon(config: Config, logger: Logger, socket?: PluginSocket): Promise<Daemon> {
  let service: VolumeService | undefined;
  let initError: unknown;
  let stopping = false;
  let ready: Promise<VolumeService> = new Promise(() => undefined);

  const whenReady = (): Promise<VolumeService> => serviceWhenReady(() => service, ready, () => initError);
  const starting = new StartingDriver(config, whenReady);
  const driver = async (): Promise<VolumeOperations> => service ?? starting;

  const bound = socket ?? (await bindSocket(config.socket));
  const metrics = config.metricsAddr ? await startMetrics(config.metricsAddr, () => service, logger) : undefined;
  bound.serve(await createApp(driver, logger, metrics?.telemetry));
  const admin = await serveAdmin(adminSocketBeside(config.socket), {
    operations: async () => {
      await whenReady();
      return service!.admin;
    },
    doctor: () => runDoctor(config, logger, () => service, () => initError),
    logger,
  });
  const server = bound.server;
  logger.info('listening', { version: BERTH_VERSION, node: process.versions.node, socket: config.socket, admin: admin.socketPath, config: redactedConfig(config) });
  // Only now load the EC2 client (the heaviest module) and connect: Docker is already answered meanwhile.
  ready = initialise(config, logger, metrics?.telemetry, (error) => (initError = error), () => stopping).then((started) => (service = started));
  ready.catch(() => undefined);

  return {
    server,
    ready,
    async stop() {
      stopping = true;
      await admin.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // In-flight calls hold their connections open: abort them (they roll back) before waiting for the server.
      if (service) await service.shutdown();
      server.closeAllConnections();
      await closed;
      fs.rmSync(config.socket, { force: true });
      await metrics?.close();
      logger.info('stopped');
    },
  };
}

/** Loads the modules the daemon loads only once it listens, and starts nothing (see `serve --help`). */
export async function loadEverything(): Promise<void> {
  await Promise.all([import('./cloud/ebs'), import('express')]);
}

/** The metrics door (EBS_METRICSADDR): its telemetry feeds the counters, the service the gauges once it is ready. */
async function startMetrics(listen: string, service: () => VolumeService | undefined, logger: Logger): Promise<{ telemetry: Telemetry; close(): Promise<void> }> {
  const [{ createMetrics }, { serveMetrics }] = await Promise.all([import('./metrics/registry'), import('./metrics/server')]);
  const { registry, telemetry } = createMetrics(service);
  const served = await serveMetrics(listen, registry).catch((err: Error) => {
    throw new Error(`cannot serve metrics on EBS_METRICSADDR=${listen}: ${err.message}`);
  });
  logger.info('metrics listening', { address: served.address, path: '/metrics' });
  return { telemetry, close: () => served.close() };
}

/** `berth doctor`: EC2, metadata and this machine checked afresh, and whether the service got going. */
async function runDoctor(config: Config, logger: Logger, service: () => VolumeService | undefined, initError: () => unknown): Promise<DoctorReport> {
  const [{ diagnoseCloud }, { diagnoseHost }] = await Promise.all([import('./cloud/diagnose'), import('./host/diagnose')]);
  const sample = await service()
    ?.admin.volumes()
    .then((volumes) => volumes[0])
    .catch(() => undefined);
  const [cloud, host] = await Promise.all([diagnoseCloud(config, logger, { volumeId: sample?.volumeId, sizeGiB: sample?.sizeGiB }), diagnoseHost(config)]);
  const ready: DoctorCheck = service()
    ? { name: 'berth', outcome: 'pass', detail: `berth ${BERTH_VERSION} is serving Docker` }
    : {
        name: 'berth',
        outcome: 'fail',
        detail: `berth is not connected to EC2 yet: ${initError() ? errorMessage(initError()) : 'still connecting'}`,
        fix: 'Fix the failed checks below; berth keeps retrying and serves Docker once they pass.',
      };
  return { checks: [ready, ...cloud, ...host] };
}

/** Connects to EC2 and builds the volume service, retrying until it works or the daemon stops. */
export async function initialise(
  config: Config,
  logger: Logger,
  telemetry: Telemetry = NO_TELEMETRY,
  onError: (error: unknown) => void,
  stopping: () => boolean,
): Promise<VolumeService> {
  for (let attempt = 1, delay = 1000; ; attempt += 1, delay = Math.min(delay * 2, INIT_RETRY_MAX_MS)) {
    try {
      const { connectCloud } = await import('./cloud/ebs');
      const cloud = timedSteps<Cloud>(await connectCloud(config, logger, telemetry), CLOUD_STEPS, telemetry);
      const host = timedSteps<Host>(new LinuxHost({ deviceDir: config.deviceDir, logger }), HOST_STEPS, telemetry);
      const service = new VolumeService({ cloud, host, config, logger, telemetry });
      await service.reconcile();
      logger.info('ready', { ...cloud.identity() });
      return service;
    } catch (error) {
      onError(error);
      logger.error('cannot connect to EC2 yet; retrying', { attempt, retryInMs: delay, error: errorMessage(error) });
      if (stopping()) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}
