/** Another instance's state (running, stopped, terminated…) and zone: for releasing a volume whose holder is gone, and for a cluster volume's node. */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { hasErrorCode, mapEc2Error } from './errors';
import type { CloudContext } from './context';
import type { InstanceState } from './types';

/** EC2's instance state name ('gone' when EC2 no longer knows the instance: terminated long ago) and its zone. */
export async function describeInstance(context: CloudContext, instanceId: string, signal?: AbortSignal): Promise<InstanceState> {
  try {
    const out = await context.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
    const instance = out.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find((found) => found.InstanceId === instanceId);
    if (!instance) return { state: 'gone' };
    return { state: instance.State?.Name ?? 'gone', ...(instance.Placement?.AvailabilityZone && { availabilityZone: instance.Placement.AvailabilityZone }) };
  } catch (err) {
    if (hasErrorCode(err, 'InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed')) return { state: 'gone' };
    throw mapEc2Error(err, `DescribeInstances ${instanceId}`);
  }
}
