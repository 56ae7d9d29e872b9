/**
 * The listing thread's worker (started by listing-thread.ts): pages through DescribeVolumes with an EC2 client of
 * its own, built as the daemon builds its own, and hands each page back as berth's view of its volumes. What it
 * logs, each EC2 request and each throttled attempt go back to the daemon, which reports them as its own.
 */
import type { Filter } from '@aws-sdk/client-ec2';
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { BerthError, ValidationError } from '../common/errors';
import type { Telemetry } from '../common/telemetry';
import type { LogLevel } from '../config';
import { createLogger } from '../log';
import { buildEc2Client } from './client';
import type { FailureData, FromWorker, ListingWorkerData, ToWorker } from './listing-thread';
import { VolumeLookups } from './lookups';

/**
 * The daemon reads each message in one go, and keeps of it only what changed: small messages keep that read short
 * and let the copies it drops die young.
 */
const VOLUMES_PER_MESSAGE = 100;

const port = parentPort;
if (!port) throw new Error('listing-worker.ts runs only as the listing thread (a worker thread)');
const data = workerData as ListingWorkerData;
const post = (message: FromWorker) => port.postMessage(message);

const logger = createLogger({ level: data.logLevel as LogLevel, stream: forwardLines() });
const telemetry: Telemetry = {
  ec2Request: (action, outcome, seconds) => post({ type: 'request', action, outcome, seconds }),
  dockerCall: () => undefined,
  volumeStep: () => undefined,
  cacheLookup: () => undefined,
};
const connection = buildEc2Client(data.client, data.region, logger, telemetry);
const lookups = new VolumeLookups({ ec2: connection.client, config: data.lookups, logger });
const running = new Map<number, AbortController>();
let throttledSeen = 0;

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') running.get(message.id)?.abort();
  else void runQuery(message.id, message.filters, message.startToken);
});

async function runQuery(id: number, filters: Filter[], startToken: string | undefined): Promise<void> {
  const abort = new AbortController();
  running.set(id, abort);
  try {
    for await (const { volumes } of lookups.pages(filters, abort.signal, startToken)) {
      reportThrottling();
      for (let start = 0; start < volumes.length; start += VOLUMES_PER_MESSAGE) post({ type: 'page', id, volumes: volumes.slice(start, start + VOLUMES_PER_MESSAGE) });
    }
    post({ type: 'done', id });
  } catch (err) {
    post({ type: 'failed', id, error: failureOf(err) });
  } finally {
    reportThrottling();
    running.delete(id);
  }
}

function reportThrottling(): void {
  for (const total = connection.throttledCount(); throttledSeen < total; throttledSeen++) post({ type: 'throttled' });
}

function failureOf(err: unknown): FailureData {
  if (err instanceof ValidationError) return { code: err.code, message: err.message, field: err.field };
  if (err instanceof BerthError) return { code: err.code, message: err.message };
  return { code: 'cloud', message: err instanceof Error ? err.message : String(err) };
}

/** The worker's log lines (JSON, as createLogger writes them) go to the daemon's logger. */
function forwardLines(): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        try {
          const { level, message, timestamp: _timestamp, ...fields } = JSON.parse(line) as Record<string, unknown>;
          post({ type: 'log', level: String(level), message: String(message), fields });
        } catch {
          post({ type: 'log', level: 'info', message: line, fields: {} });
        }
      }
      done();
    },
  });
}
