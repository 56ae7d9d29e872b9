/**
 * Builds the EC2 client: region, endpoint, credentials, adaptive retries, a time bound on every request,
 * an optional proxy, and a counter of throttled attempts (logged at debug, never as errors).
 */
import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type http from 'node:http';
import type { Config } from '../config';
import { NO_TELEMETRY, type Telemetry } from '../common/telemetry';
import type { Logger } from '../log';
import { errorCodeOf, isExpiredCredentialsError, isThrottlingError } from './errors';
import { metadataOrigin } from './metadata';

export type ClientConfig = Pick<
  Config,
  'endpoint' | 'region' | 'accessKey' | 'secretKey' | 'metadataEndpoint' | 'maxRetries' | 'callTimeoutMs' | 'httpProxy' | 'httpsProxy' | 'noProxy'
>;

export interface Ec2Connection {
  client: EC2Client;
  /** Throttled attempts seen so far (each one was retried by the SDK unless attempts ran out). */
  throttledCount(): number;
}

/** The environment variable through which the SDK's credential chain finds instance metadata. */
export const SDK_METADATA_ENDPOINT_ENV = 'AWS_EC2_METADATA_SERVICE_ENDPOINT';

export function buildEc2Client(config: ClientConfig, region: string, logger: Logger, telemetry: Telemetry = NO_TELEMETRY): Ec2Connection {
  const agent = proxyAgentFor(config);
  const clientConfig: EC2ClientConfig = {
    region: config.region || region,
    retryMode: 'adaptive',
    maxAttempts: Math.max(1, config.maxRetries),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: config.callTimeoutMs,
      requestTimeout: config.callTimeoutMs,
      // Without this, requestTimeout only logs a warning and a silent server hangs the call forever.
      throwOnRequestTimeout: true,
      logger: handlerLogger(logger),
      ...(agent ? { httpAgent: agent, httpsAgent: agent as unknown as import('node:https').Agent } : {}),
    }),
  };
  if (config.endpoint) clientConfig.endpoint = config.endpoint;
  if (config.accessKey && config.secretKey) {
    clientConfig.credentials = { accessKeyId: config.accessKey, secretAccessKey: config.secretKey };
  } else {
    pointSdkMetadataAt(config.metadataEndpoint);
  }
  const client = new EC2Client(clientConfig);
  if (!clientConfig.credentials) refreshExpiredCredentials(client, logger);
  reportRequests(client, telemetry);
  return { client, throttledCount: countThrottling(client, logger) };
}

/**
 * The SDK's default credential chain (environment, shared files, ECS, then instance-role credentials from IMDS)
 * takes no metadata endpoint option: @smithy/credential-provider-imds reads only AWS_EC2_METADATA_SERVICE_ENDPOINT
 * (or the profile's ec2_metadata_service_endpoint), when it runs. berth's metadataEndpoint is normally read from
 * that same variable; this makes a value given by flag or config file reach the SDK too.
 */
export function pointSdkMetadataAt(metadataEndpoint: string): void {
  if (metadataEndpoint) process.env[SDK_METADATA_ENDPOINT_ENV] = metadataOrigin(metadataEndpoint);
}

/**
 * The SDK keeps instance-role credentials until a few minutes before the expiry they were issued with; credentials
 * that stop working sooner (revoked, or a metadata service that rotated them early) would fail every call until
 * then. On EC2's "expired" answer the credentials are fetched afresh and the call is sent once more.
 */
export function refreshExpiredCredentials(client: EC2Client, logger: Logger): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!isExpiredCredentialsError(err)) throw err;
        logger.warn('EC2 refused the credentials as expired; fetching fresh ones and retrying once', { command: context.commandName, code: errorCodeOf(err) });
        await client.config.credentials({ forceRefresh: true });
        return next(args);
      }
    },
    { step: 'initialize', name: 'berthExpiredCredentialsRefresh' },
  );
}

/** Counts throttled attempts. Sits inside the SDK's retry loop, so it sees every attempt. */
/** Every attempt of every call (inside the SDK's retries), as EC2 saw it: its action, outcome and duration. */
export function reportRequests(client: EC2Client, telemetry: Telemetry): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const action = (context.commandName ?? 'unknown').replace(/Command$/, '');
      const started = performance.now();
      try {
        const result = await next(args);
        telemetry.ec2Request(action, 'ok', (performance.now() - started) / 1000);
        return result;
      } catch (err) {
        telemetry.ec2Request(action, errorCodeOf(err) || 'error', (performance.now() - started) / 1000);
        throw err;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'berthRequestReporter' },
  );
}

export function countThrottling(client: EC2Client, logger: Logger): () => number {
  let throttled = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (isThrottlingError(err)) {
          throttled++;
          logger.debug('EC2 throttled a request; the SDK retries it', { command: context.commandName, code: errorCodeOf(err), throttled });
        }
        throw err;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'berthThrottleCounter' },
  );
  return () => throttled;
}

function handlerLogger(logger: Logger) {
  return {
    debug: (...content: unknown[]) => logger.debug(content.map(String).join(' ')),
    info: (...content: unknown[]) => logger.debug(content.map(String).join(' ')),
    warn: (...content: unknown[]) => logger.warn(content.map(String).join(' ')),
    error: (...content: unknown[]) => logger.error(content.map(String).join(' ')),
  };
}

export interface ProxySettings {
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
  metadataEndpoint: string;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy for a request URL, or '' to connect directly. HTTPS_PROXY serves https URLs, HTTP_PROXY http ones;
 * NO_PROXY (comma or space separated: `host`, `host:port`, `.suffix`, `*.suffix`, `*`) and the metadata
 * address are always reached directly.
 */
export function proxyForUrl(url: string, settings: ProxySettings): string {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return '';
  }
  const proxy = target.protocol === 'https:' ? settings.httpsProxy : target.protocol === 'http:' ? settings.httpProxy : '';
  if (!proxy) return '';
  const hostname = target.hostname.toLowerCase();
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 0;
  if (settings.metadataEndpoint && sameOrigin(target, settings.metadataEndpoint)) return '';
  if (matchesNoProxy(hostname, port, settings.noProxy)) return '';
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `${target.protocol}//${proxy}`;
}

function sameOrigin(target: URL, endpoint: string): boolean {
  try {
    return new URL(metadataOrigin(endpoint)).origin === target.origin;
  } catch {
    return false;
  }
}

function matchesNoProxy(hostname: string, port: number, noProxy: string): boolean {
  const entries = noProxy.toLowerCase().split(/[,\s]+/).filter(Boolean);
  return entries.some((entry) => {
    if (entry === '*') return true;
    const match = /^(.+):(\d+)$/.exec(entry);
    const host = (match ? match[1] : entry).replace(/^\[(.*)\]$/, '$1');
    if (match && Number(match[2]) !== port) return false;
    if (host.startsWith('*.')) return hostname.endsWith(host.slice(1));
    if (host.startsWith('.')) return hostname.endsWith(host) || hostname === host.slice(1);
    return hostname === host || hostname.endsWith(`.${host}`);
  });
}

/**
 * An agent that sends each request through the proxy `proxyForUrl` picks, or undefined when no proxy is
 * configured (then the SDK's own agents are used). proxy-agent is ESM-only, so it is loaded only when needed.
 */
type ProxyAgentConstructor = new (options: { getProxyForUrl: (url: string) => string; keepAlive?: boolean }) => http.Agent;

function proxyAgentFor(config: ClientConfig): http.Agent | undefined {
  if (!config.httpProxy && !config.httpsProxy) return undefined;
  // Typed by hand: with this project's "node" module resolution TypeScript cannot see proxy-agent's ESM types.
  const { ProxyAgent } = require('proxy-agent') as { ProxyAgent: ProxyAgentConstructor };
  const settings: ProxySettings = {
    httpProxy: config.httpProxy,
    httpsProxy: config.httpsProxy,
    noProxy: config.noProxy,
    metadataEndpoint: config.metadataEndpoint,
  };
  return new ProxyAgent({ getProxyForUrl: (url: string) => proxyForUrl(url, settings), keepAlive: true });
}
