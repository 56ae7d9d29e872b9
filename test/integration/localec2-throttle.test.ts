/**
 * local-ec2 --throttle: EC2's request limits for the whole account, seen through the real SDK — what a caller that
 * exceeds them gets, that every instance of the account draws on the same buckets, that the call log counts the
 * throttled calls, and that the SDK's adaptive retries (berth's setting) get through once the bucket refills.
 */
import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { CallEntry } from '../../src/localec2/call-log';
import type { LocalEc2 } from '../../src/localec2/server';
import { describeAsRoot } from '../support/privileges';
import { Workspace, adminJson, ec2Client, ec2Error, instanceId } from './localec2-support';

const FIRST = instanceId(0x41);
const SECOND = instanceId(0x42);

describeAsRoot('local-ec2: EC2\'s request limits (--throttle aws/N)', () => {
  const workspace = new Workspace();
  let endpoint: LocalEc2;
  const clients: EC2Client[] = [];
  const client = (options: { maxAttempts?: number; retryMode?: string } = {}) => {
    const made = ec2Client(endpoint.ec2Url, options);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    // CreateVolume's bucket (100, refilled 5 a second) divided by 50: 2 tokens, one every 10 s.
    endpoint = await workspace.start({
      dataDir: workspace.dir('data'),
      instances: [
        { id: FIRST, az: 'us-east-1a' },
        { id: SECOND, az: 'us-east-1a' },
      ],
      throttleDivisor: 50,
    });
  });

  afterAll(async () => {
    for (const made of clients) made.destroy();
    await workspace.teardown();
  });

  it('answers RequestLimitExceeded (HTTP 503) once an action\'s bucket is empty, for every caller of the account, and logs it', async () => {
    const first = client();
    const second = client();
    const create = (ec2: EC2Client) => ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    const { VolumeId } = await create(first);
    await create(second);
    expect(await ec2Error(create(first))).toEqual({ name: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' });
    expect(await ec2Error(create(second))).toMatchObject({ name: 'RequestLimitExceeded' });
    // Other actions have buckets of their own.
    await first.send(new AttachVolumeCommand({ VolumeId, InstanceId: FIRST, Device: '/dev/xvdf' }));
    await first.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId!] }));
    const calls = await adminJson<CallEntry[]>(endpoint.ec2Url, '/_berth/calls');
    expect(calls.filter((call) => call.action === 'CreateVolume').map((call) => call.result)).toEqual(['ok', 'ok', 'RequestLimitExceeded', 'RequestLimitExceeded']);
  });

  it('lets the SDK\'s adaptive retries through once the bucket refills', async () => {
    const patient = client({ maxAttempts: 10, retryMode: 'adaptive' });
    const started = Date.now();
    await patient.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    expect(Date.now() - started).toBeGreaterThan(1_000);
  }, 60_000);
});
