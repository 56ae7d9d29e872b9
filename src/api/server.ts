/** The plugin's HTTP API over a unix socket: transport only (decode, encode, log, listen). */
import express, { type NextFunction, type Request, type Response } from 'express';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from '../log';
import { dockerErr, isUserError } from './errors';
import { handlers, type Handler } from './handlers';
import { CONTENT_TYPE, Routes, type VolumeDriver } from './protocol';

const MAX_BODY = '1mb';

function volumeOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const name = (body as Record<string, unknown>).Name;
  return typeof name === 'string' ? name : undefined;
}

function send(res: Response, status: number, body: Record<string, unknown>): void {
  res.status(status).type(CONTENT_TYPE).send(JSON.stringify(body));
}

export function createApp(driver: () => Promise<VolumeDriver>, logger: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Docker sends no Content-Type, and a retried request may have an empty body: parse everything as JSON.
  app.use(express.text({ type: () => true, limit: MAX_BODY }));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const text = typeof req.body === 'string' ? req.body.trim() : '';
    if (!text) {
      req.body = {};
      return next();
    }
    try {
      const parsed: unknown = JSON.parse(text);
      req.body = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
      next();
    } catch {
      send(res, 200, { Err: `berth: request body is not JSON: ${text.slice(0, 80)}` });
    }
  });

  const table = handlers(driver);
  for (const [key, route] of Object.entries(Routes) as [keyof typeof Routes, string][]) {
    app.post(route, serve(route.slice(1), table[key], logger));
  }
  app.use((req: Request, res: Response) => send(res, 404, { Err: `berth: unknown method ${req.method} ${req.path}` }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => send(res, 200, { Err: dockerErr(err) }));
  return app;
}

function serve(method: string, handler: Handler, logger: Logger) {
  return async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const hangup = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) hangup.abort(new Error('Docker closed the connection'));
    });
    const volume = volumeOf(req.body);
    const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
    try {
      const answer = await handler(req.body as Record<string, unknown>, { signal: hangup.signal });
      send(res, 200, answer);
      const err = typeof answer.Err === 'string' && answer.Err ? answer.Err : undefined;
      logger.log(method === 'VolumeDriver.Capabilities' ? 'debug' : 'info', 'call', {
        method,
        volume,
        durationMs: round(elapsedMs()),
        outcome: err ? 'not-found' : 'ok',
      });
    } catch (error) {
      send(res, 200, { Err: dockerErr(error) });
      logger.log(isUserError(error) ? 'warn' : 'error', 'call', {
        method,
        volume,
        durationMs: round(elapsedMs()),
        outcome: 'error',
        error: dockerErr(error),
      });
    }
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Listens on the socket, replacing a stale socket file left by a dead process. */
export async function listenOnSocket(app: express.Express, socketPath: string): Promise<http.Server> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  await removeStaleSocket(socketPath);
  const server = http.createServer(app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = http.request({ socketPath, path: Routes.capabilities, method: 'POST', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
    probe.on('timeout', () => {
      probe.destroy();
      resolve(false);
    });
    probe.end('{}');
  });
  if (alive) throw new Error(`another process is serving ${socketPath}`);
  fs.rmSync(socketPath, { force: true });
}
