/** The state of another instance (running, stopped, terminated…), for releasing a volume whose holder is gone. */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { hasErrorCode, mapEc2Error } from './errors';
import type { CloudContext } from './context';

/** EC2's instance state name; 'gone' when EC2 no longer knows the instance (terminated long ago). */
export async function instanceState(context: CloudContext, instanceId: string, signal?: AbortSignal): Promise<string> {
  try {
    const out = await context.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
    const instance = out.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find((found) => found.InstanceId === instanceId);
    return instance?.State?.Name ?? 'gone';
  } catch (err) {
    if (hasErrorCode(err, 'InvalidInstanceID.NotFound')) return 'gone';
    throw mapEc2Error(err, `DescribeInstances ${instanceId}`);
  }
}
