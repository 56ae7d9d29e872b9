/**
 * The device names this instance already uses, as EC2 lists them (DescribeInstances block device mappings; the
 * instance metadata can be stale), cached for a moment so that attaches in quick succession ask once.
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { mapEc2Error } from './errors';

export const INSTANCE_DEVICES_CACHE_MS = 2_000;

export class InstanceDevices {
  private cached: { names: Promise<string[]>; until: number } | undefined;

  constructor(
    private readonly ec2: EC2Client,
    private readonly instanceId: string,
  ) {}

  /** Device names of this instance's block device mappings, at most INSTANCE_DEVICES_CACHE_MS old. */
  namesInUse(signal?: AbortSignal): Promise<string[]> {
    const now = Date.now();
    if (this.cached && this.cached.until > now) return this.cached.names;
    const names = this.ec2
      .send(new DescribeInstancesCommand({ InstanceIds: [this.instanceId] }), { abortSignal: signal })
      .then((out) =>
        (out.Reservations ?? [])
          .flatMap((reservation) => reservation.Instances ?? [])
          .flatMap((instance) => instance.BlockDeviceMappings ?? [])
          .map((mapping) => mapping.DeviceName ?? '')
          .filter(Boolean),
      )
      .catch((err: unknown) => {
        this.forget();
        throw mapEc2Error(err, `DescribeInstances ${this.instanceId}`);
      });
    this.cached = { names, until: now + INSTANCE_DEVICES_CACHE_MS };
    return names;
  }

  /** After EC2 refused or gave up an attachment the list may be wrong: the next attach asks again. */
  forget(): void {
    this.cached = undefined;
  }
}
