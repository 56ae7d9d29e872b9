/**
 * The plugin's HTTP API over a unix socket: transport only (decode, encode, log, listen).
 *
 * Docker calls Capabilities before almost every request, and Get/Path are answered from memory, so the per-call
 * path is kept short: one express middleware finds the method in a table built once, reads the body itself (no
 * body-parser chain: Docker sends no Content-Type, so every body is JSON anyway), answers with a body serialised
 * once, and logs the call after the answer is on its way.
 *
 * Every call is logged at debug. At info: calls that change something (Create, Remove, Mount, Unmount), reads that
 * took long enough for a user to notice (they waited for EC2), and every failure. A quick read is not worth an
 * info line: Docker sends several per container start, and each line a managed plugin writes is read and logged
 * again by dockerd (measured in dockerd: with a line per call, cached Get and Path took 1.9 and 2.1 times as long as a
 * bare server's answer; without, 1.5 and 1.4 times).
 */
import type { Express, NextFunction, Request, Response } from 'express';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BerthError } from '../common/errors';
import { clip, quote } from '../common/text';
import { NO_TELEMETRY, type Telemetry } from '../common/telemetry';
import type { Logger } from '../log';
import { ComplaintLimiter } from './complaints';
import { dockerErr, isUserError } from './errors';
import { CANCELLABLE, handlers, type Handler } from './handlers';
import type { VolumeOperations } from '../volumes/operations';
import { CONTENT_TYPE, Routes } from './protocol';

const MAX_BODY_BYTES = 1024 * 1024;
/** Docker's bodies nest two levels deep; anything far deeper is refused before code walks it recursively. */
const MAX_NESTING = 32;
const ANSWER_CONTENT_TYPE = `${CONTENT_TYPE}; charset=utf-8`;
/** Handed to calls that do not stop when Docker hangs up (they are quick, or must finish). */
const NEVER_ABORTED = new AbortController().signal;
/** Methods that only read; their quick answers are logged at debug. */
const READS: ReadonlySet<keyof typeof Routes> = new Set(['get', 'path', 'list', 'capabilities']);
/** A read this slow (it waited for EC2) is logged at info. */
const SLOW_READ_MS = 100;

interface Route {
  method: string;
  handler: Handler;
  cancellable: boolean;
  read: boolean;
}

const MAX_LOGGED_NAME_CHARS = 256;
/** Node accepts request lines of up to 16 KB. */
const MAX_SHOWN_PATH_CHARS = 200;

function volumeOf(body: Record<string, unknown>): string | undefined {
  const name = body.Name;
  return typeof name === 'string' ? clip(name, MAX_LOGGED_NAME_CHARS) : undefined;
}

/** Answers encoded once: a handler that hands back the same object (List, while nothing changed) is not encoded again. */
const encodedAnswers = new WeakMap<object, Buffer>();

function send(res: Response, status: number, body: Record<string, unknown>): void {
  let encoded = encodedAnswers.get(body);
  if (!encoded) {
    encoded = Buffer.from(JSON.stringify(body));
    encodedAnswers.set(body, encoded);
  }
  res.writeHead(status, { 'Content-Type': ANSWER_CONTENT_TYPE, 'Content-Length': encoded.length });
  res.end(encoded);
}

/** The app answering the protocol. Loads express on first use: a daemon binds its socket before that. */
export async function createApp(driver: () => Promise<VolumeOperations>, logger: Logger, telemetry: Telemetry = NO_TELEMETRY): Promise<Express> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  const table = handlers(driver);
  const complaints = new ComplaintLimiter();
  const routes = new Map<string, Route>();
  for (const [key, route] of Object.entries(Routes) as [keyof typeof Routes, string][]) {
    const method = route.slice(1);
    routes.set(route, { method, handler: table[key], cancellable: CANCELLABLE.has(key), read: READS.has(key) });
  }

  app.use((req: Request, res: Response, next: NextFunction) => {
    const route = req.method === 'POST' ? routes.get(req.path) : undefined;
    if (!route) return next();
    readBody(req, (problem, text) => {
      if (problem) return send(res, 200, { Err: problem });
      const depth = nestingDepth(text);
      if (depth > MAX_NESTING) return send(res, 200, { Err: `berth: request body nests JSON ${depth} levels deep; at most ${MAX_NESTING} are accepted` });
      const body = parseBody(text);
      if (typeof body === 'string') return send(res, 200, { Err: body });
      void serve(route, body, res, { logger, complaints, telemetry });
    });
  });
  app.use((req: Request, res: Response) => send(res, 404, { Err: `berth: unknown method ${req.method} ${clip(req.path, MAX_SHOWN_PATH_CHARS)}` }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => send(res, 200, { Err: dockerErr(err) }));
  return app;
}

/** The request body as text, at most MAX_BODY_BYTES; or why it cannot be read. */
function readBody(req: Request, done: (problem: string | undefined, text: string) => void): void {
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding !== 'identity') {
    req.resume();
    return done(`berth: request body is ${encoding}-encoded: send it uncompressed`, '');
  }
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return done(`berth: request body of ${declared} bytes is larger than ${MAX_BODY_BYTES} bytes`, '');
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  let finished = false;
  const finish = (problem: string | undefined) => {
    if (finished) return;
    finished = true;
    done(problem, problem ? '' : chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, bytes).toString('utf8'));
  };
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) return finish(`berth: request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  });
  req.on('end', () => finish(undefined));
  req.on('error', (error) => finish(`berth: cannot read the request: ${error.message}`));
}

/** How deep arrays and objects nest in JSON text (brackets inside strings do not count); read without recursion. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (char === 0x7d || char === 0x5d) depth--;
  }
  return deepest;
}

/**
 * Docker sends no Content-Type, and a retried request may have an empty body: everything is JSON, empty (or null,
 * what Go encodes for no arguments) is {}. Returns the body, or what is wrong with it.
 */
function parseBody(text: string): Record<string, unknown> | string {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `berth: request body is not JSON: ${quote(text.trim(), 80)}`;
  }
  if (parsed === null) return {};
  if (typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  return `berth: request body is ${Array.isArray(parsed) ? 'a list' : `a ${typeof parsed}`}: the protocol's bodies are JSON objects`;
}

interface CallReporting {
  logger: Logger;
  complaints: ComplaintLimiter;
  telemetry: Telemetry;
}

async function serve(route: Route, body: Record<string, unknown>, res: Response, { logger, complaints, telemetry }: CallReporting): Promise<void> {
  const started = process.hrtime.bigint();
  const method = route.method.replace(/^VolumeDriver\./, '');
  try {
    const answer = await route.handler(body, { signal: route.cancellable ? hangupSignal(res) : NEVER_ABORTED });
    send(res, 200, answer);
    const err = typeof answer.Err === 'string' && answer.Err ? answer.Err : undefined;
    const durationMs = elapsedMs(started);
    telemetry.dockerCall(method, err ? 'error' : 'ok', durationMs / 1000);
    const level = route.read && durationMs < SLOW_READ_MS ? 'debug' : 'info';
    logCall(logger, level, { method: route.method, volume: volumeOf(body), durationMs, outcome: err ? 'not-found' : 'ok' });
  } catch (error) {
    const message = dockerErr(error);
    send(res, 200, { Err: message });
    telemetry.dockerCall(method, 'error', elapsedMs(started) / 1000);
    const { log, suppressed } = complaints.admit(`${route.method} ${error instanceof BerthError ? error.code : 'internal'}`);
    if (!log) return;
    logCall(logger, isUserError(error) ? 'warn' : 'error', {
      method: route.method,
      volume: volumeOf(body),
      durationMs: elapsedMs(started),
      outcome: 'error',
      error: message,
      ...(suppressed > 0 ? { similarNotLogged: suppressed } : {}),
    });
  }
}

/** Aborts when Docker closes the connection before the answer is written. */
function hangupSignal(res: Response): AbortSignal {
  const hangup = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) hangup.abort(new Error('Docker closed the connection'));
  });
  return hangup.signal;
}

/**
 * Written after the answer has left: formatting a line through winston costs more than the rest of a cached Get.
 * A disabled level would still go through winston's streams, so it is skipped here.
 */
function logCall(logger: Logger, level: string, fields: Record<string, unknown>): void {
  if (!logger.isLevelEnabled(level)) return;
  setImmediate(() => logger.log(level, 'call', fields));
}

const elapsedMs = (started: bigint) => Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;

/** The plugin socket, listening; calls wait until an app serves them. */
export interface PluginSocket {
  server: http.Server;
  /** From now on `app` answers every call, starting with those that arrived before it. */
  serve(app: Express): void;
}

/**
 * Listens on the socket, replacing a stale socket file left by a dead process. Needs nothing but Node itself, so a
 * daemon can listen before it loads express and the rest (Docker dials a managed plugin 0.5 s after starting it).
 */
export async function bindSocket(socketPath: string): Promise<PluginSocket> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  await removeStaleSocket(socketPath);
  const requests = constructing(http.IncomingMessage);
  const responses = constructing(http.ServerResponse);
  let app: Express | undefined;
  const waiting: Array<[http.IncomingMessage, http.ServerResponse]> = [];
  const server = http.createServer({ IncomingMessage: requests, ServerResponse: responses }, (req, res) => {
    if (app) app(req, res);
    else waiting.push([req, res]);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    serve(served) {
      app = served;
      requests.prototype = served.request;
      responses.prototype = served.response;
      for (const [req, res] of waiting.splice(0)) served(req, res);
    },
  };
}

/**
 * A class for Node's http server whose instances get `prototype` (settable later) from the start. express gives
 * every request and response its own prototype (Object.setPrototypeOf) as it enters the app; done on each call,
 * that is the largest single cost of express on a cached Get, and it changes the objects' shapes after Node's http
 * code has seen them. Made with express's prototypes already, the setPrototypeOf finds nothing to do.
 */
function constructing<T extends Function & { prototype: object }>(base: T): T {
  const made = function (...args: unknown[]) {
    return Reflect.construct(base, args, made);
  } as unknown as T;
  made.prototype = base.prototype;
  return made;
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
