/**
 * The listing thread (src/cloud/listing-thread.ts) with its real worker, run from its TypeScript source, against
 * the local endpoint through the real SDK: it lists a large namespace exactly as the main thread does, reports its
 * EC2 requests and log lines to the daemon's telemetry and logger, answers EC2's refusals and cancellations as the
 * main thread would, says it is unavailable when its worker cannot run or dies, and stops when idle.
 */
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ListingThread, ListingThreadUnavailable, type ListingWorkerData, type WorkerScript } from '../../src/cloud/listing-thread';
import { VolumeLookups } from '../../src/cloud/lookups';
import { namespaceFilters, volumeTagSpecifications } from '../../src/cloud/tags';
import type { CloudVolume } from '../../src/cloud/types';
import { BerthError } from '../../src/common/errors';
import { NO_TELEMETRY, type Telemetry } from '../../src/common/telemetry';
import type { LocalEc2 } from '../../src/localec2/server';
import { createLogger } from '../../src/log';
import { waitFor } from '../support/poll';
import { describeAsRoot } from '../support/privileges';
import { REGION, TEST_KEY, Workspace, adminJson, ec2Client } from './localec2-support';

const VOLUMES = 1_200;
const TAG = 'listing';
const WORKER_FROM_SOURCE: WorkerScript = {
  file: path.resolve(__dirname, '../../src/cloud/listing-worker.ts'),
  execArgv: ['--require', path.resolve(__dirname, '../support/run-ts.cjs')],
};
const LOOKUPS = { tag: TAG, adoptRexray: false, fsType: 'ext4' as const };

describeAsRoot('the listing thread', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  const threads: ListingThread[] = [];

  beforeAll(async () => {
    endpoint = await workspace.start({ dataDir: workspace.dir('data') });
    const spec = (name: string) => ({ name, sizeGiB: 1, volumeType: 'gp3', encrypted: false, availabilityZone: 'us-east-1a', extraTags: {}, format: { fsType: 'ext4' as const, mkfsOptions: [] } });
    const volumes = Array.from({ length: VOLUMES }, (_, i) => {
      const tags = volumeTagSpecifications(spec(`big-${i}`), TAG, 1)[0].Tags!;
      return { availabilityZone: 'us-east-1a', sizeGiB: 1, volumeType: 'gp3', tags: Object.fromEntries(tags.map((tag) => [tag.Key!, tag.Value!])) };
    });
    for (let start = 0; start < volumes.length; start += 1000) await adminJson(endpoint.ec2Url, '/_berth/volumes', { volumes: volumes.slice(start, start + 1000) });
  });

  afterEach(async () => {
    await adminJson(endpoint.ec2Url, '/_berth/faults', { deny: [] });
  });

  afterAll(async () => {
    for (const thread of threads) await thread.close();
    await workspace.teardown();
  });

  function workerData(): ListingWorkerData {
    return {
      client: {
        endpoint: endpoint.ec2Url,
        region: REGION,
        accessKey: TEST_KEY.accessKeyId,
        secretKey: TEST_KEY.secretAccessKey,
        metadataEndpoint: '',
        maxRetries: 2,
        callTimeoutMs: 20_000,
        httpProxy: '',
        httpsProxy: '',
        noProxy: '',
      },
      region: REGION,
      lookups: LOOKUPS,
      logLevel: 'debug',
    };
  }

  function newThread(options: { script?: WorkerScript; idleMs?: number } = {}) {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const requests: Array<{ action: string; outcome: string }> = [];
    const telemetry: Telemetry = { ...NO_TELEMETRY, ec2Request: (action, outcome) => requests.push({ action, outcome }) };
    const thread = new ListingThread({
      data: workerData(),
      logger: createLogger({ level: 'debug', stream, secrets: [TEST_KEY.secretAccessKey] }),
      telemetry,
      script: options.script ?? WORKER_FROM_SOURCE,
      idleMs: options.idleMs,
    });
    threads.push(thread);
    return { thread, lines, requests };
  }

  async function onThisThread(startToken?: string): Promise<CloudVolume[]> {
    const ec2 = ec2Client(endpoint.ec2Url);
    try {
      const lookups = new VolumeLookups({ ec2, config: LOOKUPS, logger: createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) }) });
      return await lookups.query(namespaceFilters(TAG), undefined, undefined, startToken);
    } finally {
      ec2.destroy();
    }
  }

  const byId = (volumes: CloudVolume[]) => [...volumes].sort((a, b) => a.volumeId.localeCompare(b.volumeId));

  it('lists a namespace of three pages exactly as the main thread does, keeping what `keep` answers', async () => {
    const { thread, requests, lines } = newThread();
    const kept: string[] = [];
    const listed = await thread.query(namespaceFilters(TAG), undefined, (volume) => {
      kept.push(volume.name);
      return volume;
    });
    expect(listed).toHaveLength(VOLUMES);
    expect(byId(listed)).toEqual(byId(await onThisThread()));
    // (A Date made by the worker is not an instance of the Date of jest's sandbox: its type is checked by name.)
    expect(listed.every((volume) => Object.prototype.toString.call(volume.createTime) === '[object Date]' && volume.owner === 'berth' && volume.format.fsType === 'ext4')).toBe(true);
    expect(kept.sort()).toEqual(listed.map((volume) => volume.name).sort());
    // Each of the worker's requests counted as the daemon's own.
    expect(requests).toEqual([
      { action: 'DescribeVolumes', outcome: 'ok' },
      { action: 'DescribeVolumes', outcome: 'ok' },
      { action: 'DescribeVolumes', outcome: 'ok' },
    ]);
    expect(lines.some((line) => line.message === 'listing thread started')).toBe(true);
  });

  it('goes on from a NextToken the main thread was given', async () => {
    const ec2 = ec2Client(endpoint.ec2Url);
    const first = await ec2.send(new DescribeVolumesCommand({ Filters: namespaceFilters(TAG), MaxResults: 500 })).finally(() => ec2.destroy());
    const { thread } = newThread();
    const rest = await thread.query(namespaceFilters(TAG), undefined, undefined, first.NextToken);
    expect(rest).toHaveLength(VOLUMES - 500);
    const firstIds = new Set((first.Volumes ?? []).map((volume) => volume.VolumeId));
    expect(rest.some((volume) => firstIds.has(volume.volumeId))).toBe(false);
  });

  it("answers EC2's refusal as the main thread would, logs through the daemon's logger, and lists again once allowed", async () => {
    const { thread, lines, requests } = newThread();
    await adminJson(endpoint.ec2Url, '/_berth/faults', { deny: ['DescribeVolumes'] });
    const refused = await thread.query(namespaceFilters(TAG)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BerthError);
    expect(refused).toMatchObject({ code: 'cloud' });
    expect((refused as Error).message).toMatch(/^DescribeVolumes tag:berth:namespace=listing: EC2 refused the credentials or their IAM permissions \(UnauthorizedOperation\)/);
    expect(requests).toContainEqual({ action: 'DescribeVolumes', outcome: 'UnauthorizedOperation' });
    expect(JSON.stringify(lines)).not.toContain(TEST_KEY.secretAccessKey);
    await adminJson(endpoint.ec2Url, '/_berth/faults', { deny: [] });
    expect(await thread.query(namespaceFilters(TAG))).toHaveLength(VOLUMES);
  });

  it('gives up a cancelled listing at once, and answers the next one', async () => {
    const { thread } = newThread();
    const abort = new AbortController();
    const listing = thread.query(namespaceFilters(TAG), abort.signal);
    abort.abort();
    await expect(listing).rejects.toMatchObject({ code: 'timeout', message: expect.stringMatching(/^DescribeVolumes tag:berth:namespace=listing: cancelled/) });
    expect(await thread.query(namespaceFilters(TAG))).toHaveLength(VOLUMES);
  });

  it('is unavailable when its worker cannot start, or dies during a listing; then starts again', async () => {
    const missing = newThread({ script: { file: path.resolve(__dirname, 'fixtures/no-such-worker.js') } });
    await expect(missing.thread.query(namespaceFilters(TAG))).rejects.toBeInstanceOf(ListingThreadUnavailable);

    const dying = newThread({ script: { file: path.resolve(__dirname, 'fixtures/dying-listing-worker.cjs') } });
    const died = await dying.thread.query(namespaceFilters(TAG)).catch((err: unknown) => err);
    expect(died).toBeInstanceOf(ListingThreadUnavailable);
    expect((died as Error).message).toBe('the listing thread exited (code 3)');
    expect(dying.thread.running()).toBe(false);
    await expect(dying.thread.query(namespaceFilters(TAG))).rejects.toBeInstanceOf(ListingThreadUnavailable);
  });

  it('stops its worker after a while without a listing, and starts it again for the next', async () => {
    const { thread, lines } = newThread({ idleMs: 200 });
    expect(thread.running()).toBe(false);
    await thread.query(namespaceFilters(TAG));
    expect(thread.running()).toBe(true);
    await waitFor('the idle listing thread to stop', () => !thread.running(), { timeoutMs: 5_000 });
    expect(lines.some((line) => line.message === 'listing thread stopped: idle')).toBe(true);
    expect(await thread.query(namespaceFilters(TAG))).toHaveLength(VOLUMES);
    expect(lines.filter((line) => line.message === 'listing thread started')).toHaveLength(2);
  });
});
