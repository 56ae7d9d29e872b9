/**
 * What a CreateVolume call says, for a new volume and for one moved to another zone alike: one description of
 * the volume in, one CreateVolume input out, and the ClientToken that makes the call idempotent.
 */
import type { CreateVolumeCommandInput, Tag, VolumeType } from '@aws-sdk/client-ec2';
import { createHash } from 'node:crypto';

/** Everything CreateVolume is told; what is not given is left to EC2. */
export interface VolumeToCreate {
  availabilityZone: string;
  sizeGiB: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  snapshotId?: string;
  clientToken: string;
  tags: Tag[];
}

export function createVolumeInput(volume: VolumeToCreate): CreateVolumeCommandInput {
  const input: CreateVolumeCommandInput = {
    AvailabilityZone: volume.availabilityZone,
    Size: volume.sizeGiB,
    Encrypted: volume.encrypted,
    ClientToken: volume.clientToken,
    TagSpecifications: [{ ResourceType: 'volume', Tags: volume.tags }],
  };
  if (volume.volumeType) input.VolumeType = volume.volumeType as VolumeType;
  if (volume.iops !== undefined) input.Iops = volume.iops;
  if (volume.throughput !== undefined) input.Throughput = volume.throughput;
  if (volume.kmsKeyId) input.KmsKeyId = volume.kmsKeyId;
  if (volume.snapshotId) input.SnapshotId = volume.snapshotId;
  return input;
}

/** hex(sha256 of the parts joined by NUL), 64 characters: the most a ClientToken may hold. */
function tokenOf(...parts: Array<string | number>): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 64);
}

/** hex(sha256(namespace NUL name NUL generation)): racing hosts creating one name send one token. */
export function clientToken(namespace: string, name: string, generation: number): string {
  return tokenOf(namespace, name, generation);
}

/** The token of a move of one volume to one zone: hosts moving it at the same time send one token. */
export function moveToken(namespace: string, name: string, fromVolumeId: string, availabilityZone: string): string {
  return tokenOf(namespace, name, 'move', fromVolumeId, availabilityZone);
}
