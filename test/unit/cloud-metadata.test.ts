import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MetadataClient, readInstanceIdentity, regionFromAvailabilityZone } from '../../src/cloud/metadata';
import { BerthError } from '../../src/common/errors';
import { silentLogger } from '../../src/log';

interface Seen {
  method: string;
  url: string;
  token?: string;
  ttl?: string;
}

const ITEMS: Record<string, string> = {
  '/latest/meta-data/instance-id': 'i-0123456789abcdef0',
  '/latest/meta-data/placement/availability-zone': 'eu-west-3b',
  '/latest/meta-data/placement/region': 'eu-west-3',
  '/latest/meta-data/instance-type': 'm7g.large',
};

type Mode = 'v2' | 'v1-403' | 'v1-404' | 'v1-405' | 'silent' | 'no-region' | 'flaky';

/** A tiny IMDS on 127.0.0.1 behaving per mode; records every request. */
async function startImds(mode: Mode) {
  const seen: Seen[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let failures = 0;
  const server = http.createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      token: req.headers['x-aws-ec2-metadata-token'] as string | undefined,
      ttl: req.headers['x-aws-ec2-metadata-token-ttl-seconds'] as string | undefined,
    });
    if (mode === 'silent') return; // never answers
    if (mode === 'flaky' && failures++ < 1) {
      res.statusCode = 500;
      return res.end('busy');
    }
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (mode.startsWith('v1-')) {
        res.statusCode = Number(mode.slice(3));
        return res.end();
      }
      return res.end('TOKEN-abc');
    }
    if (mode === 'v2' && req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN-abc') {
      res.statusCode = 401;
      return res.end();
    }
    const body = mode === 'no-region' && req.url?.endsWith('placement/region') ? undefined : ITEMS[req.url ?? ''];
    if (body === undefined) {
      res.statusCode = 404;
      return res.end();
    }
    res.end(body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('instance metadata', () => {
  let imds: Awaited<ReturnType<typeof startImds>> | undefined;
  afterEach(async () => {
    await imds?.close();
    imds = undefined;
  });

  const clientFor = (endpoint: string, timeoutMs = 2000) => new MetadataClient({ endpoint, timeoutMs, logger: silentLogger() });

  it('reads the identity with an IMDSv2 token', async () => {
    imds = await startImds('v2');
    const identity = await readInstanceIdentity(clientFor(imds.endpoint));
    expect(identity).toEqual({ instanceId: 'i-0123456789abcdef0', availabilityZone: 'eu-west-3b', region: 'eu-west-3', instanceType: 'm7g.large' });
    const puts = imds.seen.filter((request) => request.method === 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0].url).toBe('/latest/api/token');
    expect(Number(puts[0].ttl)).toBeGreaterThan(0);
    const gets = imds.seen.filter((request) => request.method === 'GET');
    expect(gets).toHaveLength(4);
    expect(gets.every((request) => request.token === 'TOKEN-abc')).toBe(true);
  });

  it.each(['v1-403', 'v1-404', 'v1-405'] as const)('falls back to IMDSv1 when the token PUT answers %s', async (mode) => {
    imds = await startImds(mode);
    const identity = await readInstanceIdentity(clientFor(imds.endpoint));
    expect(identity.instanceId).toBe('i-0123456789abcdef0');
    expect(imds.seen.filter((request) => request.method === 'GET').every((request) => request.token === undefined)).toBe(true);
  });

  it('derives the region from the zone when placement/region is missing', async () => {
    imds = await startImds('no-region');
    expect((await readInstanceIdentity(clientFor(imds.endpoint))).region).toBe('eu-west-3');
    expect(regionFromAvailabilityZone('us-east-1a')).toBe('us-east-1');
  });

  it('uses only scheme, host and port of the endpoint', async () => {
    imds = await startImds('v2');
    const identity = await readInstanceIdentity(clientFor(`${imds.endpoint}/some/path/`));
    expect(identity.instanceId).toBe('i-0123456789abcdef0');
    expect(imds.seen.every((request) => request.url.startsWith('/latest/'))).toBe(true);
  });

  it('retries a 500 once', async () => {
    imds = await startImds('flaky');
    expect((await readInstanceIdentity(clientFor(imds.endpoint))).instanceId).toBe('i-0123456789abcdef0');
  });

  it('gives up quickly with a bounded timeout error when IMDS never answers', async () => {
    imds = await startImds('silent');
    const start = Date.now();
    const err = await readInstanceIdentity(clientFor(imds.endpoint, 100)).catch((e: unknown) => e);
    const elapsed = Date.now() - start;
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toContain(imds.endpoint);
    // token PUT (one timeout, then IMDSv1) + two tries of each GET, in parallel.
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
  });

  it('reports a refused connection as a cloud error naming the endpoint', async () => {
    imds = await startImds('v2');
    const endpoint = imds.endpoint;
    await imds.close();
    imds = undefined;
    const err = await readInstanceIdentity(clientFor(endpoint, 500)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toContain(endpoint);
  });
});
