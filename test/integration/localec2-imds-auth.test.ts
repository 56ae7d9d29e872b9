/**
 * local-ec2's instance metadata (IMDSv2 tokens, required vs optional, the paths berth reads) and
 * authentication (SigV4 with known keys; instance-role credentials accepted, expired ones refused),
 * including the SDK's own default credential chain reading the simulated metadata service.
 */
import { DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { describeAsRoot } from '../support/privileges';
import type { LocalEc2 } from '../../src/localec2/server';
import { REGION, TEST_KEY, Workspace, adminJson, ec2Client, ec2Error, instanceId } from './localec2-support';

const OPTIONAL = instanceId(0x21);
const REQUIRED = instanceId(0x22);
const ROLE = 'berth-test-role';

async function token(imds: string, ttl = '60'): Promise<string> {
  const response = await fetch(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl } });
  expect(response.status).toBe(200);
  return response.text();
}

async function get(imds: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(`${imds}${path}`, { headers });
  return { status: response.status, body: await response.text() };
}

interface RoleCredentials {
  Code: string;
  Type: string;
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
  LastUpdated: string;
}

describeAsRoot('local-ec2: instance metadata and credentials', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  let optional: string;
  let required: string;

  beforeAll(async () => {
    endpoint = await workspace.start({
      dataDir: workspace.dir('data'),
      instances: [
        { id: OPTIONAL, az: 'us-east-1c', type: 't3.micro', role: ROLE },
        { id: REQUIRED, az: 'us-east-1a', imdsv2: 'required', role: ROLE },
      ],
    });
    optional = endpoint.instances.find((i) => i.id === OPTIONAL)!.imds;
    required = endpoint.instances.find((i) => i.id === REQUIRED)!.imds;
  });

  afterAll(async () => {
    await workspace.teardown();
  });

  it('gives each instance its own metadata address', () => {
    expect(optional).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(required).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(optional).not.toBe(required);
  });

  it('serves identity, placement and type with IMDSv1 when tokens are optional, and with a token', async () => {
    expect(await get(optional, '/latest/meta-data/instance-id')).toEqual({ status: 200, body: OPTIONAL });
    expect((await get(optional, '/latest/meta-data/placement/availability-zone')).body).toBe('us-east-1c');
    expect((await get(optional, '/latest/meta-data/placement/region')).body).toBe('us-east-1');
    expect((await get(optional, '/latest/meta-data/instance-type')).body).toBe('t3.micro');
    const tokenValue = await token(optional);
    expect((await get(optional, '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': tokenValue })).body).toBe(OPTIONAL);
    expect((await get(optional, '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': 'forged' })).status).toBe(401);
    const document = JSON.parse((await get(optional, '/latest/dynamic/instance-identity/document')).body) as Record<string, string>;
    expect(document).toMatchObject({ instanceId: OPTIONAL, region: 'us-east-1', availabilityZone: 'us-east-1c', instanceType: 't3.micro', accountId: '123456789012' });
    expect((await get(optional, '/latest/meta-data/placement/')).body.split('\n')).toEqual(['availability-zone', 'availability-zone-id', 'region']);
    expect((await get(optional, '/latest/meta-data/no-such-thing')).status).toBe(404);
  });

  it('requires a token when imdsv2=required: 401 without, 200 with', async () => {
    expect((await get(required, '/latest/meta-data/instance-id')).status).toBe(401);
    const tokenValue = await token(required);
    expect(await get(required, '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': tokenValue })).toEqual({ status: 200, body: REQUIRED });
  });

  it('checks the token TTL header: 1..21600 seconds', async () => {
    for (const ttl of ['0', '21601', 'abc']) {
      const response = await fetch(`${required}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl } });
      expect([ttl, response.status]).toEqual([ttl, 400]);
    }
    expect((await fetch(`${required}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
    expect((await token(required, '21600')).length).toBeGreaterThan(20);
  });

  it('expires tokens after their TTL', async () => {
    const shortLived = await token(required, '1');
    expect((await get(required, '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': shortLived })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await get(required, '/latest/meta-data/instance-id', { 'x-aws-ec2-metadata-token': shortLived })).status).toBe(401);
  });

  const roleCredentials = async (imds: string): Promise<RoleCredentials> => {
    const headers = { 'x-aws-ec2-metadata-token': await token(imds) };
    expect((await get(imds, '/latest/meta-data/iam/security-credentials/', headers)).body).toBe(ROLE);
    return JSON.parse((await get(imds, `/latest/meta-data/iam/security-credentials/${ROLE}`, headers)).body) as RoleCredentials;
  };

  it('hands out role credentials the EC2 endpoint accepts, and refuses them once expired', async () => {
    await adminJson(endpoint.ec2Url, '/_berth/reset', {});
    const credentials = await roleCredentials(required);
    expect(credentials).toMatchObject({ Code: 'Success', Type: 'AWS-HMAC' });
    expect(credentials.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(Date.parse(credentials.Expiration)).toBeGreaterThan(Date.now() + 3600_000);
    const asRole = ec2Client(endpoint.ec2Url, {
      credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.Token },
    });
    const withoutToken = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey } });
    try {
      await asRole.send(new DescribeVolumesCommand({}));
      expect((await ec2Error(withoutToken.send(new DescribeVolumesCommand({}))))).toMatchObject({ name: 'AuthFailure', status: 401 });
      expect((await roleCredentials(required)).AccessKeyId).toBe(credentials.AccessKeyId);

      await adminJson(endpoint.ec2Url, '/_berth/faults', { credentials: { expireIssued: true } });
      expect(await ec2Error(asRole.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'RequestExpired', status: 400 });
      const fresh = await roleCredentials(required);
      expect(fresh.AccessKeyId).not.toBe(credentials.AccessKeyId);
      const renewed = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: fresh.AccessKeyId, secretAccessKey: fresh.SecretAccessKey, sessionToken: fresh.Token } });
      await renewed.send(new DescribeVolumesCommand({}));
      renewed.destroy();
    } finally {
      asRole.destroy();
      withoutToken.destroy();
      await adminJson(endpoint.ec2Url, '/_berth/reset', {});
    }
  });

  it('issues short-lived credentials with the ttlSeconds fault; they stop working when they expire', async () => {
    await adminJson(endpoint.ec2Url, '/_berth/faults', { credentials: { ttlSeconds: 2 } });
    try {
      const credentials = await roleCredentials(optional);
      expect(Date.parse(credentials.Expiration) - Date.now()).toBeLessThanOrEqual(2000);
      const client = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.Token } });
      await client.send(new DescribeVolumesCommand({}));
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await ec2Error(client.send(new DescribeVolumesCommand({})))).name).toBe('RequestExpired');
      client.destroy();
    } finally {
      await adminJson(endpoint.ec2Url, '/_berth/reset', {});
    }
  });

  it('lets the SDK run on the instance role with no keys (default credential chain -> metadata service)', async () => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = required;
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    const client = new EC2Client({ region: REGION, endpoint: endpoint.ec2Url, maxAttempts: 1 });
    try {
      const answer = await client.send(new DescribeVolumesCommand({}));
      expect(answer.$metadata.httpStatusCode).toBe(200);
      const calls = await adminJson<{ action: string; result: string }[]>(endpoint.ec2Url, '/_berth/calls');
      expect(calls[calls.length - 1]).toMatchObject({ action: 'DescribeVolumes', result: 'ok' });
    } finally {
      client.destroy();
      process.env = saved;
    }
  });

  it('refuses unknown keys, a wrong secret and unsigned requests with AuthFailure', async () => {
    const unknown = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' } });
    const wrongSecret = ec2Client(endpoint.ec2Url, { credentials: { accessKeyId: TEST_KEY.accessKeyId, secretAccessKey: 'not-the-secret' } });
    try {
      expect(await ec2Error(unknown.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'AuthFailure', status: 401 });
      expect(await ec2Error(wrongSecret.send(new DescribeVolumesCommand({})))).toMatchObject({ name: 'AuthFailure', status: 401 });
    } finally {
      unknown.destroy();
      wrongSecret.destroy();
    }
    const unsigned = await fetch(endpoint.ec2Url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeVolumes&Version=2016-11-15' });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toContain('<Code>AuthFailure</Code>');
  });
});
