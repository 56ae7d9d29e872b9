/**
 * The device names this instance already uses, as EC2 lists them (DescribeInstances block device mappings; the
 * instance metadata can be stale), cached for a minute: berth's own attachments keep their names reserved in the
 * allocator, a name freed meanwhile is only skipped, and a name something else took meanwhile makes EC2 refuse the
 * attach, after which the list is asked for again (and the name avoided).
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { CachedAnswer } from '../common/cached-answer';
import { ec2Call } from './errors';

export const INSTANCE_DEVICES_CACHE_MS = 60_000;

export class InstanceDevices {
  private readonly names: CachedAnswer<string[]>;

  constructor(ec2: EC2Client, instanceId: string) {
    this.names = new CachedAnswer(INSTANCE_DEVICES_CACHE_MS, async (signal) => {
      const out = await ec2Call(`DescribeInstances ${instanceId}`, () => ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal }));
      return (out.Reservations ?? [])
        .flatMap((reservation) => reservation.Instances ?? [])
        .flatMap((instance) => instance.BlockDeviceMappings ?? [])
        .map((mapping) => mapping.DeviceName ?? '')
        .filter(Boolean);
    });
  }

  /** Device names of this instance's block device mappings, at most INSTANCE_DEVICES_CACHE_MS old. */
  namesInUse(signal?: AbortSignal): Promise<string[]> {
    return this.names.get(signal);
  }

  /** After EC2 refused or gave up an attachment the list may be wrong: the next attach asks again. */
  forget(): void {
    this.names.forget();
  }
}
