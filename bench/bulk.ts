/**
 * Many berth volumes made directly at the endpoint (not through Docker): CreateVolume with the tags berth itself
 * writes (volumeTagSpecifications), so berth lists them as its own.
 */
import { CreateVolumeCommand, DeleteVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { clientToken } from '../src/cloud/create-input';
import { namespaceOf, volumeTagSpecifications } from '../src/cloud/tags';
import type { CreateVolumeSpec } from '../src/cloud/types';
import { TEST_ACCESS_KEY, TEST_SECRET_KEY, type LocalEc2 } from '../test/support/local-ec2';

export function endpointClient(ec2: LocalEc2): EC2Client {
  return new EC2Client({
    region: ec2.instances[0].az.slice(0, -1),
    endpoint: ec2.ec2,
    credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET_KEY },
  });
}

async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Creates `count` 1 GiB gp3 volumes named `<prefix>-0001`...; returns their ids. */
export async function createBulkVolumes(ec2: LocalEc2, prefix: string, count: number, concurrency = 8): Promise<string[]> {
  const client = endpointClient(ec2);
  const az = ec2.instances[0].az;
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`);
  const ids: string[] = [];
  try {
    await inParallel(names, concurrency, async (name) => {
      const spec: CreateVolumeSpec = {
        name,
        sizeGiB: 1,
        volumeType: 'gp3',
        encrypted: false,
        availabilityZone: az,
        extraTags: {},
        format: { fsType: 'ext4', mkfsOptions: [] },
      };
      const out = await client.send(
        new CreateVolumeCommand({
          AvailabilityZone: az,
          Size: spec.sizeGiB,
          VolumeType: 'gp3',
          ClientToken: clientToken(namespaceOf(''), name, 1),
          TagSpecifications: volumeTagSpecifications(spec, '', 1),
        }),
      );
      ids.push(out.VolumeId ?? '');
    });
  } finally {
    client.destroy();
  }
  return ids;
}

export async function deleteVolumes(ec2: LocalEc2, volumeIds: string[], concurrency = 8): Promise<void> {
  const client = endpointClient(ec2);
  try {
    await inParallel(volumeIds, concurrency, async (volumeId) => {
      await client.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    });
  } finally {
    client.destroy();
  }
}
