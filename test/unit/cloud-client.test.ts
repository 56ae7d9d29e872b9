/**
 * The EC2 client as built for production, against tiny EC2 and metadata servers on 127.0.0.1: retries,
 * throttling, time bounds, credentials (static and instance-role) and what reaches the logs.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { buildEc2Client, proxyForUrl, type ClientConfig } from '../../src/cloud/client';
import type { CloudConfig } from '../../src/cloud/context';
import { EbsCloud, connectCloud } from '../../src/cloud/ebs';
import { BerthError } from '../../src/common/errors';
import { createLogger } from '../../src/log';

const ACCESS_KEY = 'AKIAREALLYSECRET0001';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

async function startServer(handler: Handler) {
  const sockets = new Set<Socket>();
  const requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const VOLUME_XML = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>req-1</requestId>
  <volumeSet>
    <item>
      <volumeId>vol-1</volumeId><size>16</size><availabilityZone>us-east-1a</availabilityZone><status>available</status>
      <createTime>2026-06-01T00:00:00.000Z</createTime><volumeType>gp3</volumeType><encrypted>false</encrypted>
      <attachmentSet/>
      <tagSet>
        <item><key>berth:namespace</key><value>default</value></item>
        <item><key>berth:name</key><value>pgdata</value></item>
      </tagSet>
    </item>
  </volumeSet>
</DescribeVolumesResponse>`;

function ec2ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-e</RequestID></Response>`;
}

function reply(res: http.ServerResponse, status: number, body: string) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/xml');
  res.end(body);
}

const IDENTITY = { instanceId: 'i-0me0000000000000a', region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 'm5.large' };

function configFor(endpoint: string, overrides: Partial<CloudConfig> = {}): CloudConfig {
  return {
    endpoint,
    region: 'us-east-1',
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    metadataEndpoint: 'http://127.0.0.1:1',
    maxRetries: 5,
    callTimeoutMs: 2000,
    httpProxy: '',
    httpsProxy: '',
    noProxy: '',
    statusInitialDelayMs: 5,
    statusMaxAttempts: 20,
    statusTimeoutMs: 2000,
    useLargeDeviceRange: false,
    tag: '',
    adoptRexray: false,
    fsType: 'ext4',
    ...overrides,
  };
}

function capturedLogger() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  // No secrets handed to the scrubber: these tests check that berth never logs them in the first place.
  const logger = createLogger({ level: 'debug', stream });
  return { logger, text: () => text };
}

function cloudOver(config: CloudConfig, logger = capturedLogger().logger) {
  const { client, throttledCount } = buildEc2Client(config, 'us-east-1', logger);
  return new EbsCloud({ ec2: client, identity: IDENTITY, config, logger, throttledCount, batchWindowMs: 1 });
}

describe('EC2 client', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  const serve = async (handler: Handler) => {
    const server = await startServer(handler);
    servers.push(server);
    return server;
  };

  it('retries throttled calls, counts them, and logs them at debug only', async () => {
    let calls = 0;
    const ec2 = await serve((_req, _body, res) => {
      calls++;
      if (calls <= 2) return reply(res, 503, ec2ErrorXml('RequestLimitExceeded', 'Request limit exceeded.'));
      reply(res, 200, VOLUME_XML);
    });
    const log = capturedLogger();
    const cloud = cloudOver(configFor(ec2.url), log.logger);
    const volume = await cloud.describe('vol-1');
    expect(volume?.name).toBe('pgdata');
    expect(calls).toBe(3);
    expect(cloud.throttledCount()).toBe(2);
    const entries = log.text().trim().split('\n').map((line) => JSON.parse(line));
    expect(entries.filter((entry) => /throttled/.test(entry.message))).toHaveLength(2);
    expect(entries.every((entry) => entry.level === 'debug')).toBe(true);
  });

  it('bounds a call to an endpoint that never answers', async () => {
    const ec2 = await serve(() => {
      /* never answers */
    });
    const cloud = cloudOver(configFor(ec2.url, { callTimeoutMs: 150, maxRetries: 2 }));
    const start = Date.now();
    const err = await cloud.findByName('pgdata').catch((e: unknown) => e);
    const elapsed = Date.now() - start;
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('timeout');
    expect(ec2.requests.length).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(3000);
  });

  it('signs with the configured keys and never logs them, even on failures', async () => {
    let calls = 0;
    const ec2 = await serve((_req, _body, res) => {
      calls++;
      if (calls === 1) return reply(res, 503, ec2ErrorXml('RequestLimitExceeded', 'Request limit exceeded.'));
      reply(res, 401, ec2ErrorXml('AuthFailure', 'AWS was not able to validate the provided access credentials'));
    });
    const log = capturedLogger();
    const cloud = cloudOver(configFor(ec2.url), log.logger);
    const err = await cloud.findByName('pgdata').catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('cloud');
    expect((err as Error).message).toMatch(/credentials or their IAM permissions/);
    log.logger.error('find failed', { error: (err as Error).message });
    expect(ec2.requests[0].headers.authorization).toContain(`Credential=${ACCESS_KEY}/`);
    expect(log.text()).not.toContain(ACCESS_KEY);
    expect(log.text()).not.toContain(SECRET_KEY);
    expect((err as Error).message).not.toContain(ACCESS_KEY);
  });

  describe('without keys', () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    });

    it('takes instance-role credentials from the configured metadata endpoint, and connectCloud logs no secret', async () => {
      const roleKey = 'ASIAROLEKEY000000001';
      const roleSecret = 'roleSecretValue/abcdefghijklmnopqrstuvw';
      const imds = await serve((req, _body, res) => {
        if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('tok');
        const items: Record<string, string> = {
          '/latest/meta-data/instance-id': IDENTITY.instanceId,
          '/latest/meta-data/placement/availability-zone': 'us-east-1a',
          '/latest/meta-data/placement/region': 'us-east-1',
          '/latest/meta-data/instance-type': 'm5.large',
          '/latest/meta-data/iam/security-credentials/': 'berth-role',
          '/latest/meta-data/iam/security-credentials/berth-role': JSON.stringify({
            Code: 'Success',
            Type: 'AWS-HMAC',
            AccessKeyId: roleKey,
            SecretAccessKey: roleSecret,
            Token: 'role-session-token',
            Expiration: new Date(Date.now() + 3_600_000).toISOString(),
          }),
        };
        const body = items[req.url ?? ''];
        if (body === undefined) {
          res.statusCode = 404;
          return res.end();
        }
        res.end(body);
      });
      const ec2 = await serve((_req, _body, res) => reply(res, 200, VOLUME_XML));
      for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
      process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/berth-test/credentials';
      process.env.AWS_CONFIG_FILE = '/nonexistent/berth-test/config';
      // A stale value: the configured endpoint must win.
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://127.0.0.1:1';

      const log = capturedLogger();
      const cloud = await connectCloud(configFor(ec2.url, { accessKey: '', secretKey: '', region: '', metadataEndpoint: imds.url }), log.logger);
      expect(cloud.identity()).toEqual(IDENTITY);
      expect((await cloud.describe('vol-1'))?.name).toBe('pgdata');
      expect(ec2.requests[0].headers.authorization).toContain(`Credential=${roleKey}/`);
      expect(ec2.requests[0].headers['x-amz-security-token']).toBe('role-session-token');
      expect(log.text()).toContain('cloud ready');
      expect(log.text()).not.toContain(roleKey);
      expect(log.text()).not.toContain(roleSecret);
    });
  });
});

describe('proxyForUrl', () => {
  const settings = { httpProxy: 'http://proxy:3128', httpsProxy: 'http://user:pw@sproxy:3129', noProxy: '', metadataEndpoint: 'http://169.254.169.254' };

  it('picks the proxy by scheme', () => {
    expect(proxyForUrl('https://ec2.us-east-1.amazonaws.com/', settings)).toBe('http://user:pw@sproxy:3129');
    expect(proxyForUrl('http://ec2.local:8080/', settings)).toBe('http://proxy:3128');
    expect(proxyForUrl('https://ec2.us-east-1.amazonaws.com/', { ...settings, httpsProxy: '' })).toBe('');
  });

  it('never proxies the metadata address', () => {
    expect(proxyForUrl('http://169.254.169.254/latest/api/token', settings)).toBe('');
  });

  it.each([
    ['amazonaws.com', true],
    ['.amazonaws.com', true],
    ['*.amazonaws.com', true],
    ['ec2.us-east-1.amazonaws.com:443', true],
    ['ec2.us-east-1.amazonaws.com:8443', false],
    ['example.com', false],
    ['*', true],
    ['example.com, amazonaws.com', true],
  ])('NO_PROXY=%j bypasses https://ec2.us-east-1.amazonaws.com: %s', (noProxy, bypass) => {
    const proxy = proxyForUrl('https://ec2.us-east-1.amazonaws.com/', { ...settings, noProxy });
    expect(proxy === '').toBe(bypass);
  });

  it('adds the scheme to a proxy given as host:port', () => {
    expect(proxyForUrl('http://ec2.local/', { ...settings, httpProxy: 'proxy:3128' })).toBe('http://proxy:3128');
  });
});
