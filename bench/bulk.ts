/**
 * Many berth volumes made directly at the endpoint (not through Docker), with the tags berth itself writes
 * (volumeTagSpecifications), so berth lists them as its own: through CreateVolume, or, for thousands, through
 * the endpoint's bulk admin route.
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

function bulkNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`);
}

function bulkSpec(name: string, az: string): CreateVolumeSpec {
  return { name, sizeGiB: 1, volumeType: 'gp3', encrypted: false, availabilityZone: az, extraTags: {}, format: { fsType: 'ext4', mkfsOptions: [] } };
}

/** Volumes per POST /_berth/volumes (each about 350 bytes of JSON; the endpoint takes bodies up to 1 MiB). */
const BULK_ROUTE_BATCH = 1000;

/**
 * The volumes createBulkVolumes makes, born available through POST /_berth/volumes: one state save per batch
 * instead of two per CreateVolume, so 10,000 take seconds, not the better part of an hour.
 */
export async function addBulkVolumes(ec2: LocalEc2, prefix: string, count: number): Promise<string[]> {
  const az = ec2.instances[0].az;
  const names = bulkNames(prefix, count);
  const ids: string[] = [];
  for (let start = 0; start < names.length; start += BULK_ROUTE_BATCH) {
    const volumes = names.slice(start, start + BULK_ROUTE_BATCH).map((name) => {
      const spec = bulkSpec(name, az);
      const tags = Object.fromEntries(volumeTagSpecifications(spec, '', 1)[0].Tags!.map((tag) => [tag.Key!, tag.Value!]));
      return { availabilityZone: az, sizeGiB: spec.sizeGiB, volumeType: spec.volumeType, tags };
    });
    const answer = (await ec2.admin('POST', 'volumes', { volumes })) as { volumeIds: string[] };
    ids.push(...answer.volumeIds);
  }
  return ids;
}

/** Creates `count` 1 GiB gp3 volumes named `<prefix>-0001`...; returns their ids. */
export async function createBulkVolumes(ec2: LocalEc2, prefix: string, count: number, concurrency = 8): Promise<string[]> {
  const client = endpointClient(ec2);
  const az = ec2.instances[0].az;
  const names = bulkNames(prefix, count);
  const ids: string[] = [];
  try {
    await inParallel(names, concurrency, async (name) => {
      const spec = bulkSpec(name, az);
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
