/**
 * The admin door: the day-two operations (volumes/operations.ts, AdminOperations) over a second unix socket beside
 * the plugin socket, mode 0600 so that only root may call it. Answers are JSON lines (answers.ts); a call whose
 * client hangs up stops waiting (EC2 goes on with what it was asked).
 */
import type { Express, Request, Response } from 'express';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BerthError, ValidationError } from '../common/errors';
import { anySignal } from '../common/signals';
import type { Logger } from '../log';
import type { AdminOperations, DoctorReport, VolumeChange } from '../volumes/operations';
import { LineAnswer } from './answers';
import { AdminRoutes, MAX_ADMIN_BODY_BYTES } from './protocol';

export interface AdminDoorDeps {
  /** The operations, once the service is ready (waits a little, then fails 'not-ready'). */
  operations(): Promise<AdminOperations>;
  /** Runs without the service: it says why the service cannot start. */
  doctor(signal: AbortSignal): Promise<DoctorReport>;
  logger: Logger;
}

export interface AdminServer {
  socketPath: string;
  close(): Promise<void>;
}

type Work = (req: Request, answer: LineAnswer, signal: AbortSignal, body: unknown) => Promise<unknown>;

function hangupSignal(res: Response): AbortSignal {
  const hangup = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) hangup.abort(new BerthError('timeout', 'the admin client hung up'));
  });
  return hangup.signal;
}

async function readBody(req: Request): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ADMIN_BODY_BYTES) throw new ValidationError('body', `the request body is larger than ${MAX_ADMIN_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ValidationError('body', 'the request body is not JSON');
  }
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ValidationError('body', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function forceOf(body: unknown): boolean {
  const force = objectBody(body).force ?? false;
  if (typeof force !== 'boolean') throw new ValidationError('force', 'force must be true or false');
  return force;
}

export async function createAdminApp(deps: AdminDoorDeps, stopping: AbortSignal): Promise<Express> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  const route = (method: 'get' | 'post' | 'delete', pattern: string, work: Work) =>
    app[method](pattern, (req, res) => {
      const answer = new LineAnswer(res);
      const signal = anySignal([hangupSignal(res), stopping]);
      const started = Date.now();
      readBody(req)
        .then((body) => work(req, answer, signal, body))
        .then((result) => answer.result(result ?? {}))
        .catch((err: unknown) => {
          if (!(err instanceof BerthError)) deps.logger.error('admin call failed', { method: req.method, path: req.path, error: (err as Error).message });
          answer.error(err);
        })
        .finally(() => deps.logger.info('admin call', { method: req.method, path: req.path.slice(0, 200), ms: Date.now() - started }));
    });
  const ops = () => deps.operations();
  const name = (req: Request) => String(req.params.name);

  route('get', AdminRoutes.volumes, async () => ({ volumes: await (await ops()).volumes() }));
  route('get', AdminRoutes.volume, async (req) => (await ops()).inspect(name(req)));
  route('post', AdminRoutes.modify, async (req, answer, signal, body) => (await ops()).modify(name(req), objectBody(body) as VolumeChange, (event) => answer.progress(event), signal));
  route('post', AdminRoutes.release, async (req, _answer, signal, body) => (await ops()).release(name(req), forceOf(body), signal));
  route('post', AdminRoutes.createSnapshot, async (req, answer, signal, body) =>
    (await ops()).createSnapshot(name(req), objectBody(body).tags as Record<string, string>, (event) => answer.progress(event), signal),
  );
  route('get', AdminRoutes.snapshots, async (req) => {
    const volume = req.query.volume;
    if (volume !== undefined && typeof volume !== 'string') throw new ValidationError('volume', 'give one volume name');
    return { snapshots: await (await ops()).snapshots(volume) };
  });
  route('delete', AdminRoutes.snapshot, async (req) => {
    await (await ops()).removeSnapshot(String(req.params.id));
    return { deleted: String(req.params.id) };
  });
  route('get', AdminRoutes.doctor, async (_req, _answer, signal) => deps.doctor(signal));
  app.use((req, res) => new LineAnswer(res).error(new BerthError('not-found', `no admin call ${req.method} ${req.path.slice(0, 200)}: see berth --help`)));
  return app;
}

/** Listens on the admin socket, created with mode 0600 (the umask is narrowed while the socket is bound). */
export async function serveAdmin(socketPath: string, deps: AdminDoorDeps): Promise<AdminServer> {
  const stopping = new AbortController();
  const server = http.createServer(await createAdminApp(deps, stopping.signal));
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  // The plugin socket beside it was bound by this process, so no other daemon serves this one: a file left here is stale.
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    socketPath,
    async close() {
      stopping.abort(new BerthError('not-ready', 'berth is shutting down'));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      fs.rmSync(socketPath, { force: true });
    },
  };
}
