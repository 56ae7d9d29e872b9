import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { INSTANCE_DEVICES_CACHE_MS, InstanceDevices } from '../../src/cloud/instance-devices';
import { BerthError } from '../../src/common/errors';
import { ME, ec2Error } from '../support/fake-ec2';

function setup() {
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
  const mock = mockClient(ec2);
  mock.on(DescribeInstancesCommand).resolves({
    Reservations: [{ Instances: [{ InstanceId: ME.instanceId, BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }, { DeviceName: '/dev/sdf' }, {}] }] }],
  });
  return { mock, devices: new InstanceDevices(ec2, ME.instanceId) };
}

describe('InstanceDevices', () => {
  afterEach(() => jest.restoreAllMocks());
  const at = (ms: number) => jest.spyOn(Date, 'now').mockReturnValue(ms);

  it('lists the device names of this instance\'s block device mappings', async () => {
    const { mock, devices } = setup();
    expect(await devices.namesInUse()).toEqual(['/dev/xvda', '/dev/sdf']);
    expect(mock.commandCalls(DescribeInstancesCommand)[0].args[0].input.InstanceIds).toEqual([ME.instanceId]);
  });

  it('asks EC2 once within INSTANCE_DEVICES_CACHE_MS, and again after it', async () => {
    const { mock, devices } = setup();
    at(1_000_000);
    await Promise.all([devices.namesInUse(), devices.namesInUse()]);
    at(1_000_000 + INSTANCE_DEVICES_CACHE_MS - 1);
    await devices.namesInUse();
    expect(mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    at(1_000_000 + INSTANCE_DEVICES_CACHE_MS);
    await devices.namesInUse();
    expect(mock.commandCalls(DescribeInstancesCommand)).toHaveLength(2);
  });

  it('asks again after forget()', async () => {
    const { mock, devices } = setup();
    await devices.namesInUse();
    devices.forget();
    await devices.namesInUse();
    expect(mock.commandCalls(DescribeInstancesCommand)).toHaveLength(2);
  });

  it('keeps no failed answer, and names the instance in the error', async () => {
    const { mock, devices } = setup();
    mock.on(DescribeInstancesCommand).rejectsOnce(ec2Error('UnauthorizedOperation', 'not authorized')).resolves({ Reservations: [] });
    const err = await devices.namesInUse().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as Error).message).toContain(`DescribeInstances ${ME.instanceId}`);
    expect(await devices.namesInUse()).toEqual([]);
  });
});
