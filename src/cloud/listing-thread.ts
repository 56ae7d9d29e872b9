/**
 * The daemon's side of the listing thread: large namespace listings are paged through by a worker thread
 * (listing-worker.ts) with an EC2 client of its own, so the SDK's synchronous reading of each page's XML, and the
 * garbage it leaves, stay off the event loop that answers Docker. The worker starts at the first such listing and
 * stops after a while without one; what it logs, and every EC2 request it makes, is reported through the daemon's
 * logger and telemetry.
 */
import type { Filter } from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BerthError, ValidationError, type ErrorCode } from '../common/errors';
import type { Telemetry } from '../common/telemetry';
import type { Logger } from '../log';
import type { ClientConfig } from './client';
import type { CloudConfig } from './context';
import { describeFilters } from './tags';
import type { CloudVolume, KeepVolume } from './types';

/**
 * The worker stops after this long without a listing, giving back its memory (about 35 MiB): long enough to stay up
 * between the refreshes that keep a busy `docker volume ls` warm (every 4 s by default).
 */
const IDLE_MS = 10_000;
/**
 * The worker's heap: a young generation that holds a page's garbage until it dies (the daemon's own is 1 MiB, and
 * a page's objects were promoted and collected in major collections), and a cap on the rest as a safety bound: a
 * worker that reaches it dies and the listing falls back to the main thread.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 160 };

export interface ListingWorkerData {
  client: ClientConfig;
  region: string;
  lookups: Pick<CloudConfig, 'tag' | 'adoptRexray' | 'fsType'>;
  logLevel: string;
}

export type ToWorker = { type: 'query'; id: number; filters: Filter[]; startToken?: string } | { type: 'cancel'; id: number };

export interface FailureData {
  code: ErrorCode;
  message: string;
  field?: string;
}

export type FromWorker =
  | { type: 'page'; id: number; volumes: CloudVolume[] }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; error: FailureData }
  | { type: 'request'; action: string; outcome: string; seconds: number }
  | { type: 'throttled' }
  | { type: 'log'; level: string; message: string; fields: Record<string, unknown> };

/** The worker could not start, or stopped while a listing was under way: list on the main thread instead. */
export class ListingThreadUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListingThreadUnavailable';
  }
}

/** How to start the worker: its compiled module beside this one, or (tests) a TypeScript file with a loader. */
export interface WorkerScript {
  file: string;
  execArgv?: string[];
}

export interface ListingThreadOptions {
  data: ListingWorkerData;
  logger: Logger;
  telemetry: Telemetry;
  script?: WorkerScript;
  idleMs?: number;
}

interface PendingQuery {
  volumes: CloudVolume[];
  keep: KeepVolume;
  resolve(volumes: CloudVolume[]): void;
  reject(err: Error): void;
}

const COMPILED_WORKER = path.join(__dirname, 'listing-worker.js');

export interface ListingThreadSettings {
  config: ClientConfig & ListingWorkerData['lookups'];
  region: string;
  logger: Logger;
  telemetry: Telemetry;
}

/** The listing thread, or undefined where there is no compiled worker beside this module (run from sources). */
export function listingThreadFor({ config, region, logger, telemetry }: ListingThreadSettings): ListingThread | undefined {
  if (!fs.existsSync(COMPILED_WORKER)) return undefined;
  const data: ListingWorkerData = {
    client: {
      endpoint: config.endpoint,
      region: config.region,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      metadataEndpoint: config.metadataEndpoint,
      maxRetries: config.maxRetries,
      callTimeoutMs: config.callTimeoutMs,
      httpProxy: config.httpProxy,
      httpsProxy: config.httpsProxy,
      noProxy: config.noProxy,
    },
    region,
    lookups: { tag: config.tag, adoptRexray: config.adoptRexray, fsType: config.fsType },
    logLevel: logger.level,
  };
  return new ListingThread({ data, logger, telemetry });
}

export class ListingThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, PendingQuery>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private throttled = 0;
  private readonly script: WorkerScript;

  constructor(private readonly options: ListingThreadOptions) {
    this.script = options.script ?? { file: COMPILED_WORKER };
  }

  /** Every volume matching the filters, as VolumeLookups.query finds them (from `startToken` on), paged through by the worker. */
  query(filters: Filter[], signal?: AbortSignal, keep: KeepVolume = (volume) => volume, startToken?: string): Promise<CloudVolume[]> {
    if (signal?.aborted) return Promise.reject(cancelled(filters));
    clearTimeout(this.idleTimer);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<CloudVolume[]>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
        this.idleWhenDone();
        reject(cancelled(filters));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = <T>(finish: (value: T) => void) => (value: T) => {
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        this.idleWhenDone();
        finish(value);
      };
      this.pending.set(id, { volumes: [], keep, resolve: settle(resolve), reject: settle(reject) });
      worker.postMessage({ type: 'query', id, filters, startToken } satisfies ToWorker);
    });
  }

  /** True while the worker is up (from the first listing until it has been idle for a while). */
  running(): boolean {
    return this.worker !== undefined;
  }

  /** Throttled attempts the worker's client has seen. */
  throttledCount(): number {
    return this.throttled;
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll('the listing thread was closed');
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script.file, {
      workerData: this.options.data,
      execArgv: this.script.execArgv,
      resourceLimits: WORKER_LIMITS,
    });
    worker.unref();
    worker.on('message', (message: FromWorker) => this.receive(message));
    worker.on('error', (err) => {
      this.options.logger.warn('the listing thread failed', { error: err.message });
      this.stopped(worker, `the listing thread failed: ${err.message}`);
    });
    worker.on('exit', (code) => this.stopped(worker, `the listing thread exited (code ${code})`));
    this.worker = worker;
    this.options.logger.debug('listing thread started', { threadId: worker.threadId });
    return worker;
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case 'page': {
        const query = this.pending.get(message.id);
        if (query) for (const volume of message.volumes) query.volumes.push(query.keep(volume));
        return;
      }
      case 'done': {
        const query = this.pending.get(message.id);
        query?.resolve(query.volumes);
        return;
      }
      case 'failed':
        this.pending.get(message.id)?.reject(asBerthError(message.error));
        return;
      case 'request':
        this.options.telemetry.ec2Request(message.action, message.outcome, message.seconds);
        return;
      case 'throttled':
        this.throttled++;
        return;
      case 'log':
        this.options.logger.log(message.level, message.message, { ...message.fields, thread: 'listing' });
        return;
    }
  }

  private stopped(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    this.failAll(why);
  }

  private failAll(why: string): void {
    for (const query of [...this.pending.values()]) query.reject(new ListingThreadUnavailable(why));
  }

  private idleWhenDone(): void {
    if (this.pending.size > 0 || !this.worker) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.retire(), this.options.idleMs ?? IDLE_MS).unref();
  }

  private async retire(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.pending.size > 0) return;
    this.worker = undefined;
    this.options.logger.debug('listing thread stopped: idle', { threadId: worker.threadId });
    await worker.terminate();
  }
}

function cancelled(filters: Filter[]): BerthError {
  return new BerthError('timeout', `DescribeVolumes ${describeFilters(filters)}: cancelled before EC2 answered (the caller's deadline passed)`);
}

/** The worker's error as the main thread's code expects it: a BerthError (or ValidationError) of the same code. */
function asBerthError(error: FailureData): BerthError {
  return error.field !== undefined ? new ValidationError(error.field, error.message) : new BerthError(error.code, error.message);
}
