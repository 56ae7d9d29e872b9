/**
 * local-ec2's IMDSv2 hop limit: EC2's metadata option HttpPutResponseHopLimit (default 1, set with
 * ModifyInstanceMetadataOptions, shown by DescribeInstances) against the imdsClientHops fault. A token PUT from a
 * client beyond the limit is taken and never answered, so the client times out, as on EC2; IMDSv1 requests are
 * answered; stopping the endpoint still ends promptly and closes the held connections.
 */
import http from 'node:http';
import { DescribeInstancesCommand, type EC2Client, ModifyInstanceMetadataOptionsCommand } from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { LocalEc2 } from '../../src/localec2/server';
import { Workspace, adminJson, ec2Client, ec2Error, instanceId } from './localec2-support';

const DEFAULT_LIMIT = instanceId(0x71);
const TWO_HOPS = instanceId(0x72);
const CLIENT_PATIENCE_MS = 400;

type PutOutcome = { status: number; token: string } | 'timed out';

/** A token PUT that gives up after `patienceMs`, as the SDK's metadata client does. */
async function tokenPut(imds: string, patienceMs = CLIENT_PATIENCE_MS): Promise<PutOutcome> {
  try {
    const response = await fetch(`${imds}/latest/api/token`, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
      signal: AbortSignal.timeout(patienceMs),
    });
    return { status: response.status, token: await response.text() };
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return 'timed out';
    throw err;
  }
}

describeAsRoot('local-ec2: the instance metadata hop limit', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let ec2: EC2Client;
  const imdsOf = (id: string) => endpoint.instances.find((instance) => instance.id === id)!.imds;
  const faults = (spec: unknown) => adminJson(endpoint.ec2Url, '/_berth/faults', spec);
  const metadataOptions = async (id: string) => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0].MetadataOptions;

  beforeAll(async () => {
    endpoint = await workspace.start({ dataDir: workspace.dir('data'), instances: [{ id: DEFAULT_LIMIT }, { id: TWO_HOPS, hopLimit: 2 }] });
    ec2 = ec2Client(endpoint.ec2Url);
  });

  afterEach(async () => {
    await faults({});
  });

  afterAll(async () => {
    ec2?.destroy();
    await workspace.teardown();
  });

  it('shows the metadata options in DescribeInstances: hop limit 1 by default, or as the instance spec sets it', async () => {
    expect(await metadataOptions(DEFAULT_LIMIT)).toEqual({
      State: 'applied',
      HttpTokens: 'optional',
      HttpPutResponseHopLimit: 1,
      HttpEndpoint: 'enabled',
      HttpProtocolIpv6: 'disabled',
      InstanceMetadataTags: 'disabled',
    });
    expect((await metadataOptions(TWO_HOPS))!.HttpPutResponseHopLimit).toBe(2);
  });

  it('never answers a token PUT from a client beyond the hop limit; IMDSv1 is answered', async () => {
    expect(await tokenPut(imdsOf(DEFAULT_LIMIT))).toMatchObject({ status: 200 });
    await faults({ imdsClientHops: 2 });
    const started = Date.now();
    expect(await tokenPut(imdsOf(DEFAULT_LIMIT))).toBe('timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(CLIENT_PATIENCE_MS - 20);
    const v1 = await fetch(`${imdsOf(DEFAULT_LIMIT)}/latest/meta-data/instance-id`);
    expect([v1.status, await v1.text()]).toEqual([200, DEFAULT_LIMIT]);
    expect(await tokenPut(imdsOf(TWO_HOPS))).toMatchObject({ status: 200 });
    await faults({ imdsClientHops: 3 });
    expect(await tokenPut(imdsOf(TWO_HOPS))).toBe('timed out');
  });

  it('ModifyInstanceMetadataOptions sets the hop limit (and HttpTokens); the answer shows them pending', async () => {
    await faults({ imdsClientHops: 2 });
    expect(await tokenPut(imdsOf(DEFAULT_LIMIT))).toBe('timed out');
    const answer = await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: DEFAULT_LIMIT, HttpPutResponseHopLimit: 2 }));
    expect(answer).toMatchObject({ InstanceId: DEFAULT_LIMIT, InstanceMetadataOptions: { State: 'pending', HttpPutResponseHopLimit: 2, HttpTokens: 'optional' } });
    expect(await metadataOptions(DEFAULT_LIMIT)).toMatchObject({ State: 'applied', HttpPutResponseHopLimit: 2 });
    const put = await tokenPut(imdsOf(DEFAULT_LIMIT));
    expect(put).toMatchObject({ status: 200 });

    await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: DEFAULT_LIMIT, HttpTokens: 'required' }));
    expect((await fetch(`${imdsOf(DEFAULT_LIMIT)}/latest/meta-data/instance-id`)).status).toBe(401);
    const token = (put as { token: string }).token;
    expect((await fetch(`${imdsOf(DEFAULT_LIMIT)}/latest/meta-data/instance-id`, { headers: { 'x-aws-ec2-metadata-token': token } })).status).toBe(200);
    await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: DEFAULT_LIMIT, HttpTokens: 'optional', HttpPutResponseHopLimit: 1 }));
    expect((await metadataOptions(DEFAULT_LIMIT))!.HttpPutResponseHopLimit).toBe(1);

    for (const limit of [0, 65]) {
      expect((await ec2Error(ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: DEFAULT_LIMIT, HttpPutResponseHopLimit: limit }))))).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
    }
    expect((await ec2Error(ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: DEFAULT_LIMIT, HttpPutResponseHopLimit: 3, DryRun: true }))))).toMatchObject({ name: 'DryRunOperation' });
    expect((await metadataOptions(DEFAULT_LIMIT))!.HttpPutResponseHopLimit).toBe(1);
  });

  it('refuses a malformed imdsClientHops fault', async () => {
    const response = await fetch(`${endpoint.ec2Url}/_berth/faults`, { method: 'POST', body: JSON.stringify({ imdsClientHops: 0 }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/imdsClientHops/);
  });

  it('stops promptly with token PUTs held open, and closes their connections', async () => {
    const held = await workspace.start({ dataDir: workspace.dir('held'), instances: [{ id: DEFAULT_LIMIT }] });
    await adminJson(held.ec2Url, '/_berth/faults', { imdsClientHops: 5 });
    const url = new URL(`${held.instances[0].imds}/latest/api/token`);
    const closed: Promise<string>[] = [];
    for (let i = 0; i < 3; i += 1) {
      closed.push(
        new Promise((resolve) => {
          const request = http.request(url, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' }, agent: false });
          request.on('response', () => resolve('answered'));
          request.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
          request.end();
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await held.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await Promise.all(closed)).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });
});
