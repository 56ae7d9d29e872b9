/**
 * The EC2 listener: authenticates each Query API call (SigV4, known keys only), refuses actions the "deny" fault
 * denies, applies EC2's request limits (with --throttle) and injected faults,
 * runs the action under the simulator's lock, answers in EC2's XML and records the call. Paths under
 * /_berth/ are the admin routes (faults, call log, reset, state, volumes in bulk).
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Mutex } from 'async-mutex';
import type { Logger } from '../log';
import { ACTIONS } from './actions';
import { unauthorizedOperation, principalArn } from './authorization';
import { createBulkVolumes, parseBulkVolumes } from './bulk-volumes';
import type { Ctx } from './actions/context';
import type { CallLog } from './call-log';
import type { CredentialBook, KnownKey } from './credentials';
import { Ec2Error } from './ec2-error';
import { FaultSpecError, type Faults, parseFaultSpec } from './faults';
import { QueryParams, rejectUnknownParameters } from './query';
import type { RateLimits } from './rate-limits';
import { parseAmzDate, parseAuthorization, sha256Hex, signatureMatches } from './sigv4';
import { renderError, renderResponse } from './xml';

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface Ec2ServerDeps {
  ctx: Ctx;
  lock: Mutex;
  credentials: CredentialBook;
  faults: Faults;
  /** EC2's request limits, when the endpoint enforces them. */
  rateLimits?: RateLimits;
  calls: CallLog;
  log: Logger;
  /** What GET /_berth/state shows. */
  describeState(): unknown;
}

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

const authFailure = (message = 'AWS was not able to validate the provided access credentials') => new Ec2Error('AuthFailure', message, 401);

/** Verifies the request's signature and key; returns the key and the region of its credential scope. */
function authenticate(deps: Ec2ServerDeps, req: http.IncomingMessage, body: Buffer): { region: string; key: KnownKey } {
  const auth = parseAuthorization(header(req, 'authorization'));
  if (!auth) throw authFailure('The request is not signed with AWS Signature Version 4 (no valid Authorization header).');
  if (auth.service !== 'ec2') throw authFailure("Credential should be scoped to correct service: 'ec2'.");
  const key = deps.credentials.lookup(auth.accessKeyId);
  if (!key) throw authFailure();
  const signedAt = parseAmzDate(header(req, 'x-amz-date'));
  if (!signedAt || !auth.signedHeaders.includes('host')) throw authFailure();
  if (Math.abs(Date.now() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
    throw new Ec2Error('RequestExpired', `Request has expired. Timestamp date is ${signedAt.toISOString()}.`);
  }
  const contentHash = header(req, 'x-amz-content-sha256');
  if (contentHash !== undefined && contentHash !== sha256Hex(body)) {
    throw authFailure('The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const request = { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body };
  if (!signatureMatches(request, auth, key.secretAccessKey)) throw authFailure();
  const sessionToken = header(req, 'x-amz-security-token');
  if (key.kind === 'static') {
    if (sessionToken !== undefined) throw authFailure('The security token included in the request is invalid.');
  } else {
    if (sessionToken !== key.credential.sessionToken) throw authFailure('The security token included in the request is invalid.');
    if (Date.parse(key.credential.expiration) <= Date.now()) throw new Ec2Error('RequestExpired', 'Request has expired.');
  }
  return { region: auth.region, key };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function handleEc2Call(deps: Ec2ServerDeps, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
  const started = Date.now();
  const requestId = randomUUID();
  const url = req.url ?? '/';
  const queryString = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const params = QueryParams.parse(queryString, req.method === 'POST' ? body.toString('utf8') : '');
  const action = params.get('Action') ?? '';
  const call = {
    action: action || '(none)',
    volumeId: params.get('VolumeId') ?? params.get('VolumeId.1'),
    instanceId: params.get('InstanceId') ?? params.get('InstanceId.1'),
    time: new Date(started).toISOString(),
  };
  const answered = deps.calls.arrived(call);
  let status = 200;
  let result = 'ok';
  let xml: string;
  try {
    const { region, key } = authenticate(deps, req, body);
    if (!action) throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    const handler = ACTIONS[action];
    if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
    if (deps.faults.denies(action)) {
      throw unauthorizedOperation({ action, principal: principalArn(key, deps.ctx.accountId), params, region, accountId: deps.ctx.accountId });
    }
    if (deps.rateLimits && !deps.rateLimits.take(region, action, params)) throw new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
    const decision = deps.faults.decide(action);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    if (decision.before) throw decision.before;
    rejectUnknownParameters(params, handler.params);
    const dryRun = params.bool('DryRun') ?? false;
    const answer = await deps.lock.runExclusive(() => handler.handle(deps.ctx, { params, region, requestId, dryRun }));
    if (decision.after) throw decision.after;
    xml = renderResponse(action, requestId, answer);
  } catch (err) {
    let error: Ec2Error;
    if (err instanceof Ec2Error) {
      error = err;
    } else {
      deps.log.error('EC2 call failed unexpectedly', { action, requestId, error: err instanceof Error ? err.stack : String(err) });
      error = new Ec2Error('InternalError', 'An internal error has occurred.', 500);
    }
    status = error.status;
    result = error.code;
    xml = renderError(error.code, error.message, requestId);
  }
  answered();
  res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': requestId });
  res.end(xml);
  const entry = deps.calls.add({ ...call, result, durationMs: Date.now() - started });
  deps.log.debug('ec2 call', { ...entry, requestId });
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const text = `${JSON.stringify(value, null, 1)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function handleAdmin(deps: Ec2ServerDeps, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://local-ec2');
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'POST /_berth/faults': {
      let spec;
      try {
        spec = parseFaultSpec(body.length ? JSON.parse(body.toString('utf8')) : {}, Object.keys(ACTIONS));
      } catch (err) {
        const message = err instanceof FaultSpecError || err instanceof SyntaxError ? err.message : String(err);
        return sendJson(res, 400, { error: message });
      }
      deps.faults.set(spec);
      const expired = spec.credentials?.expireIssued ? deps.credentials.expireAll() : undefined;
      deps.log.info('faults set', { faults: spec });
      return sendJson(res, 200, { faults: spec, expiredCredentials: expired });
    }
    case 'GET /_berth/faults':
      return sendJson(res, 200, { faults: deps.faults.current() });
    case 'GET /_berth/calls': {
      const since = Number(url.searchParams.get('since') ?? '0');
      return sendJson(res, 200, deps.calls.list(Number.isFinite(since) ? since : 0));
    }
    case 'GET /_berth/inflight':
      return sendJson(res, 200, deps.calls.inflight());
    case 'POST /_berth/reset':
      deps.faults.clear();
      deps.calls.clear();
      deps.log.info('faults and call log reset');
      return sendJson(res, 200, { reset: true });
    case 'GET /_berth/state':
      return sendJson(res, 200, deps.describeState());
    default:
      return sendJson(res, 404, { error: `no admin route ${route}` });
  }
}

/** POST /_berth/volumes: many volumes at once (see bulk-volumes.ts), under the lock EC2 calls take. */
async function handleBulkVolumes(deps: Ec2ServerDeps, res: http.ServerResponse, body: Buffer): Promise<void> {
  let specs;
  try {
    specs = parseBulkVolumes(JSON.parse(body.toString('utf8')));
  } catch (err) {
    return sendJson(res, 400, { error: (err as Error).message });
  }
  try {
    const volumeIds = await deps.lock.runExclusive(() => createBulkVolumes(deps.ctx, specs));
    return sendJson(res, 200, { volumeIds });
  } catch (err) {
    return sendJson(res, err instanceof Ec2Error ? 400 : 500, { error: err instanceof Ec2Error ? `${err.code}: ${err.message}` : String(err) });
  }
}

export function ec2RequestListener(deps: Ec2ServerDeps): http.RequestListener {
  return (req, res) => {
    void (async () => {
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch (err) {
        if (!res.headersSent) sendJson(res, err instanceof BodyTooLarge ? 413 : 400, { error: 'could not read the request body' });
        return;
      }
      if (req.method === 'POST' && new URL(req.url ?? '/', 'http://local-ec2').pathname === '/_berth/volumes') await handleBulkVolumes(deps, res, body);
      else if ((req.url ?? '').startsWith('/_berth/')) handleAdmin(deps, req, res, body);
      else await handleEc2Call(deps, req, res, body);
    })().catch((err: unknown) => {
      deps.log.error('request handling failed', { error: String(err) });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  };
}
