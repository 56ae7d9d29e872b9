/** doctor's EC2 checks: DryRun answers read as IAM's verdict on each action berth calls. */
import { DescribeInstancesCommand, EC2Client, ModifyVolumeCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { diagnoseEc2 } from '../../src/cloud/diagnose-ec2';
import { HERE } from '../support/fakes';

function ec2Error(name: string): Error {
  return Object.assign(new Error(name), { name, $metadata: {} });
}

describe('doctor: EC2 checks', () => {
  const ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const mock = mockClient(ec2);
  const config = { tag: '', useLargeDeviceRange: false };
  beforeEach(() => {
    mock.reset();
    mock.onAnyCommand().rejects(ec2Error('DryRunOperation'));
    mock.on(DescribeInstancesCommand, { InstanceIds: [HERE.instanceId] }).resolves({ Reservations: [{ Instances: [{ InstanceId: HERE.instanceId, BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }] }] }] });
  });
  const check = (checks: Array<{ name: string }>, name: string) => checks.find((found) => found.name === name);

  it('passes every action EC2 would allow, and counts free device names', async () => {
    const checks = await diagnoseEc2(ec2, HERE, config, { volumeId: 'vol-0123456789abcdef0', sizeGiB: 10 });
    expect(checks.filter((found) => found.outcome !== 'pass')).toEqual([]);
    expect(check(checks, 'attachments')).toMatchObject({ detail: expect.stringMatching(/1 block devices attached; 73 of berth's 73 device names free/) });
  });

  it('fails an action IAM refuses on one of berth\'s volumes, with the fix', async () => {
    mock.on(ModifyVolumeCommand).rejects(ec2Error('UnauthorizedOperation'));
    const checks = await diagnoseEc2(ec2, HERE, config, { volumeId: 'vol-0123456789abcdef0', sizeGiB: 10 });
    expect(check(checks, 'iam:ModifyVolume')).toMatchObject({ outcome: 'fail', fix: expect.stringMatching(/Allow ec2:ModifyVolume/) });
  });

  it('only warns when the refusal was for a volume that does not exist (the policy\'s tag condition may be why)', async () => {
    mock.on(ModifyVolumeCommand).rejects(ec2Error('UnauthorizedOperation'));
    const checks = await diagnoseEc2(ec2, HERE, config, {});
    expect(check(checks, 'iam:ModifyVolume')).toMatchObject({ outcome: 'warn', detail: expect.stringMatching(/does not exist/) });
  });

  it('names bad credentials once, instead of every action', async () => {
    mock.onAnyCommand().rejects(ec2Error('AuthFailure'));
    expect(await diagnoseEc2(ec2, HERE, config, {})).toEqual([expect.objectContaining({ name: 'credentials', outcome: 'fail' })]);
  });
});
