/**
 * This instance's identity from the EC2 instance metadata service (IMDS).
 *
 * IMDSv2 first: PUT /latest/api/token, then every GET carries the token. IMDSv1 (no token) is used when the
 * token PUT answers 403/404/405, or times out (the PUT's reply is dropped when the IMDS hop limit is 1 and the
 * caller sits behind one more network hop). Every request is bounded by `timeoutMs` and retried once.
 * Requests go straight to the metadata address, never through a proxy.
 */
import http from 'node:http';
import https from 'node:https';
import { BerthError } from '../common/errors';
import type { Logger } from '../log';
import type { InstanceIdentity } from './types';

export const TOKEN_PATH = '/latest/api/token';
export const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'X-aws-ec2-metadata-token';
const TOKEN_TTL_SECONDS = 21600;
const FALLBACK_STATUSES = new Set([403, 404, 405]);
const RETRY_DELAY_MS = 50;

export interface MetadataOptions {
  /** Base URL; only scheme, host and port are used (as the AWS SDK does). */
  endpoint: string;
  timeoutMs: number;
  /** Tries per request (default 2: one retry). */
  attempts?: number;
  logger: Logger;
}

interface Response {
  status: number;
  body: string;
}

export type TokenProbe =
  | { outcome: 'token' }
  | { outcome: 'no-answer'; waitedMs: number }
  | { outcome: 'refused'; status: number }
  | { outcome: 'unreachable'; error: string };

class MetadataTimeout extends Error {
  override name = 'MetadataTimeout';
}

/** Scheme, host and port of a metadata endpoint; a path is dropped. */
export function metadataOrigin(endpoint: string): string {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
  return url.origin;
}

function request(origin: string, method: 'GET' | 'PUT', path: string, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
  const url = new URL(path, origin);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers: { ...headers, Connection: 'close' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => {
      const err = new MetadataTimeout(`${method} ${url.href} got no answer within ${timeoutMs} ms`);
      req.destroy(err);
      reject(err);
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

export class MetadataClient {
  private readonly origin: string;
  private readonly attempts: number;
  private token: { value: string | undefined; expires: number } | undefined;
  private tokenRequest: Promise<string | undefined> | undefined;

  constructor(private readonly options: MetadataOptions) {
    this.origin = metadataOrigin(options.endpoint);
    this.attempts = Math.max(1, options.attempts ?? 2);
  }

  /** A metadata item (path below /latest/meta-data/), or undefined when IMDS answers 404. */
  async get(item: string): Promise<string | undefined> {
    const path = `/latest/meta-data/${item}`;
    let token = await this.currentToken();
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await request(this.origin, 'GET', path, token ? { [TOKEN_HEADER]: token } : {}, this.options.timeoutMs);
      } catch (err) {
        if (attempt < this.attempts) {
          await delay(RETRY_DELAY_MS);
          continue;
        }
        throw this.unreachable(path, err);
      }
      if (response.status === 200) return response.body.trim();
      if (response.status === 404) return undefined;
      if (response.status === 401 && attempt < this.attempts) {
        // The token expired or IMDS started requiring one: fetch a fresh token and retry once.
        this.token = undefined;
        token = await this.currentToken();
        continue;
      }
      if (response.status >= 500 && attempt < this.attempts) {
        await delay(RETRY_DELAY_MS);
        continue;
      }
      if (response.status === 401) {
        throw new BerthError(
          'cloud',
          `instance metadata at ${this.origin} requires an IMDSv2 token but none could be obtained; ` +
            'if berth runs in a container without host networking, set the instance metadata hop limit to 2 or more',
        );
      }
      throw new BerthError('cloud', `instance metadata at ${this.origin} answered ${response.status} for ${path}: ${response.body.slice(0, 200)}`);
    }
  }

  private async currentToken(): Promise<string | undefined> {
    if (this.token && this.token.expires > Date.now()) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  /** An IMDSv2 token, or undefined to use IMDSv1. */
  private async fetchToken(): Promise<string | undefined> {
    const headers = { [TOKEN_TTL_HEADER]: String(TOKEN_TTL_SECONDS) };
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await request(this.origin, 'PUT', TOKEN_PATH, headers, this.options.timeoutMs);
      } catch (err) {
        if (err instanceof MetadataTimeout) return this.useV1('the token request timed out');
        if (attempt < this.attempts) {
          await delay(RETRY_DELAY_MS);
          continue;
        }
        throw this.unreachable(TOKEN_PATH, err);
      }
      if (response.status === 200 && response.body) {
        // Renew well before the TTL ends.
        this.token = { value: response.body.trim(), expires: Date.now() + (TOKEN_TTL_SECONDS / 2) * 1000 };
        return this.token.value;
      }
      if (FALLBACK_STATUSES.has(response.status)) return this.useV1(`the token request answered ${response.status}`);
      if (response.status >= 500 && attempt < this.attempts) {
        await delay(RETRY_DELAY_MS);
        continue;
      }
      throw new BerthError('cloud', `instance metadata at ${this.origin} refused a token (${response.status}): ${response.body.slice(0, 200)}`);
    }
  }

  /** One token request, for `berth doctor`: how IMDSv2 answers from where berth runs. */
  async probeToken(): Promise<TokenProbe> {
    try {
      const response = await request(this.origin, 'PUT', TOKEN_PATH, { [TOKEN_TTL_HEADER]: '60' }, this.options.timeoutMs);
      if (response.status === 200 && response.body) return { outcome: 'token' };
      return { outcome: 'refused', status: response.status };
    } catch (err) {
      if (err instanceof MetadataTimeout) return { outcome: 'no-answer', waitedMs: this.options.timeoutMs };
      return { outcome: 'unreachable', error: err instanceof Error ? err.message : String(err) };
    }
  }

  private useV1(why: string): undefined {
    this.options.logger.debug('instance metadata: using IMDSv1', { why, endpoint: this.origin });
    this.token = { value: undefined, expires: Date.now() + 60_000 };
    return undefined;
  }

  private unreachable(path: string, err: unknown): BerthError {
    const detail = err instanceof Error ? err.message : String(err);
    const hint = `instance metadata at ${this.origin} (${path}) is unreachable after ${this.attempts} tries: ${detail}. ` +
      'Outside EC2, set AWS_EC2_METADATA_SERVICE_ENDPOINT to a reachable metadata service.';
    return new BerthError(err instanceof MetadataTimeout ? 'timeout' : 'cloud', hint, { cause: err });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "us-east-1a" -> "us-east-1" (used only when placement/region is missing). */
export function regionFromAvailabilityZone(zone: string): string {
  return zone.replace(/[a-z]$/, '');
}

export async function readInstanceIdentity(client: MetadataClient): Promise<InstanceIdentity> {
  const required = async (item: string) => {
    const value = await client.get(item);
    if (!value) throw new BerthError('cloud', `instance metadata has no ${item}: is this an EC2 instance?`);
    return value;
  };
  const [instanceId, availabilityZone, region, instanceType] = await Promise.all([
    required('instance-id'),
    required('placement/availability-zone'),
    client.get('placement/region'),
    client.get('instance-type'),
  ]);
  return {
    instanceId,
    availabilityZone,
    region: region || regionFromAvailabilityZone(availabilityZone),
    instanceType: instanceType ?? '',
  };
}
