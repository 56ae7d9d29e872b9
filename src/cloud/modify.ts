/**
 * Elastic Volumes: ModifyVolume, and the latest modification of a volume (DescribeVolumesModifications), which EC2
 * keeps per volume with its state (modifying, optimizing, completed, failed) and progress.
 */
import { DescribeVolumesModificationsCommand, ModifyVolumeCommand, type VolumeModification as Ec2Modification } from '@aws-sdk/client-ec2';
import { ec2Call, hasErrorCode, mapEc2Error } from './errors';
import type { CloudParts } from './parts';
import type { VolumeChange, VolumeModification } from './types';

function toModification(volumeId: string, found: Ec2Modification): VolumeModification {
  return {
    volumeId,
    state: (found.ModificationState ?? 'modifying') as VolumeModification['state'],
    ...(found.Progress !== undefined && { progress: Number(found.Progress) }),
    ...(found.StatusMessage && { statusMessage: found.StatusMessage }),
    targetSizeGiB: found.TargetSize ?? 0,
    targetVolumeType: found.TargetVolumeType ?? '',
    ...(found.TargetIops !== undefined && { targetIops: found.TargetIops }),
    ...(found.TargetThroughput !== undefined && { targetThroughput: found.TargetThroughput }),
    originalSizeGiB: found.OriginalSize ?? 0,
    startTime: found.StartTime ?? new Date(0),
    ...(found.EndTime && { endTime: found.EndTime }),
  };
}

export class VolumeModifier {
  constructor(private readonly parts: CloudParts) {}

  async modify(volumeId: string, change: VolumeChange, signal?: AbortSignal): Promise<VolumeModification> {
    this.parts.lookups.forgetRecent(volumeId);
    const out = await ec2Call(`ModifyVolume ${volumeId}`, () =>
      this.parts.ec2.send(
        new ModifyVolumeCommand({
          VolumeId: volumeId,
          ...(change.sizeGiB !== undefined && { Size: change.sizeGiB }),
          ...(change.volumeType !== undefined && { VolumeType: change.volumeType as never }),
          ...(change.iops !== undefined && { Iops: change.iops }),
          ...(change.throughput !== undefined && { Throughput: change.throughput }),
        }),
        { abortSignal: signal },
      ),
    );
    return toModification(volumeId, out.VolumeModification ?? {});
  }

  /** The latest modification EC2 keeps for the volume; undefined when it was never modified. */
  async latest(volumeId: string, signal?: AbortSignal): Promise<VolumeModification | undefined> {
    try {
      const out = await this.parts.ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }), { abortSignal: signal });
      const found = out.VolumesModifications?.find((modification) => modification.VolumeId === volumeId);
      return found ? toModification(volumeId, found) : undefined;
    } catch (err) {
      if (hasErrorCode(err, 'InvalidVolumeModification.NotFound')) return undefined;
      throw mapEc2Error(err, `DescribeVolumesModifications ${volumeId}`);
    }
  }
}
