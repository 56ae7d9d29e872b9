/**
 * The EC2 client through an HTTP proxy. proxy-agent is an ES module that jest's CommonJS runtime cannot load,
 * so the client runs as the product does: bundled by esbuild and run by node in a child process.
 */
import { execFile } from 'node:child_process';
import { buildSync } from 'esbuild';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

const VOLUME_XML = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>
<volumeSet><item><volumeId>vol-1</volumeId><size>1</size><status>available</status></item></volumeSet></DescribeVolumesResponse>`;

const ENTRY = `
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { buildEc2Client } from './src/cloud/client';
import { silentLogger } from './src/log';
const config = JSON.parse(process.argv[2]);
const { client } = buildEc2Client(config, 'us-east-1', silentLogger());
client.send(new DescribeVolumesCommand({ VolumeIds: ['vol-1'] })).then(
  (out) => console.log(JSON.stringify((out.Volumes ?? []).map((v) => v.VolumeId))),
  (err) => { console.error(String(err)); process.exit(1); },
);
`;

/** Answers every request with one DescribeVolumes reply and records the request line it got. */
async function startRecorder() {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'text/xml');
      res.end(VOLUME_XML);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function run(bundle: string, config: object): Promise<string> {
  const env = { PATH: process.env.PATH ?? '', AWS_EC2_METADATA_DISABLED: 'true' };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bundle, JSON.stringify(config)], { env, timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

describe('EC2 client behind a proxy', () => {
  let dir: string;
  let bundle: string;
  let proxy: Awaited<ReturnType<typeof startRecorder>>;
  let ec2: Awaited<ReturnType<typeof startRecorder>>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-proxy-test-'));
    bundle = path.join(dir, 'client.js');
    buildSync({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts', sourcefile: 'entry.ts' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: bundle,
      logLevel: 'error',
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    proxy = await startRecorder();
    ec2 = await startRecorder();
  });
  afterEach(async () => {
    await Promise.all([proxy.close(), ec2.close()]);
  });

  const config = (overrides: object) => ({
    endpoint: ec2.url,
    region: 'us-east-1',
    accessKey: 'AKIDTEST',
    secretKey: 'test-secret',
    metadataEndpoint: 'http://127.0.0.1:1',
    maxRetries: 1,
    callTimeoutMs: 5000,
    httpProxy: '',
    httpsProxy: '',
    noProxy: '',
    ...overrides,
  });

  it('sends EC2 requests through HTTP_PROXY', async () => {
    expect(await run(bundle, config({ httpProxy: proxy.url }))).toBe('["vol-1"]');
    expect(proxy.seen).toEqual([`${ec2.url}/`]);
    expect(ec2.seen).toEqual([]);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    expect(await run(bundle, config({ httpProxy: proxy.url, noProxy: 'localhost,127.0.0.1' }))).toBe('["vol-1"]');
    expect(ec2.seen).toEqual(['/']);
    expect(proxy.seen).toEqual([]);
  });

  it('goes direct without a proxy setting', async () => {
    expect(await run(bundle, config({}))).toBe('["vol-1"]');
    expect(ec2.seen).toEqual(['/']);
    expect(proxy.seen).toEqual([]);
  });
});
