/**
 * `berth doctor`'s EC2 checks: the credentials, each IAM action berth calls (EC2's DryRun says whether a call would
 * be allowed, without making it), and this instance's attachment slots and free device names.
 */
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  DetachVolumeCommand,
  ModifyVolumeCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { DoctorCheck } from '../common/checks';
import { canonicalDeviceName, deviceNames } from './devices';
import { errorCodeOf } from './errors';
import { TAGS, namespaceOf } from './tags';
import type { InstanceIdentity } from './types';

/** A volume id no volume has: actions on a volume are asked for it when berth has none of its own to name. */
const NO_SUCH_VOLUME = 'vol-00000000000000000';
const NO_SUCH_SNAPSHOT = 'snap-00000000000000000';
const CREDENTIAL_CODES = new Set(['AuthFailure', 'InvalidClientTokenId', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'CredentialsProviderError']);
/** Nitro instances share 28 attachment slots among EBS volumes, network interfaces and instance-store disks (most types). */
const NITRO_SHARED_SLOTS = 28;
const FEW_NAMES_LEFT = 3;

export interface Ec2Sample {
  /** A volume of this namespace (the actions on one volume are asked for it: a policy may allow only berth's). */
  volumeId?: string;
  sizeGiB?: number;
}

type DryRunCall = (ec2: EC2Client, me: InstanceIdentity, volumeId: string, sizeGiB: number, ebsTag: string) => Promise<unknown>;

/** The README's IAM policy, action by action, each as a DryRun request. */
const DRY_RUNS: Record<string, { call: DryRunCall; onVolume?: boolean }> = {
  DescribeVolumes: { call: (ec2) => ec2.send(new DescribeVolumesCommand({ DryRun: true, MaxResults: 5 })) },
  DescribeInstances: { call: (ec2, me) => ec2.send(new DescribeInstancesCommand({ DryRun: true, InstanceIds: [me.instanceId] })) },
  DescribeSnapshots: { call: (ec2) => ec2.send(new DescribeSnapshotsCommand({ DryRun: true, OwnerIds: ['self'], MaxResults: 5 })) },
  DescribeAvailabilityZones: { call: (ec2) => ec2.send(new DescribeAvailabilityZonesCommand({ DryRun: true })) },
  DescribeVolumesModifications: { call: (ec2) => ec2.send(new DescribeVolumesModificationsCommand({ DryRun: true, MaxResults: 5 })) },
  CreateVolume: {
    call: (ec2, me, _volumeId, _size, ebsTag) =>
      ec2.send(
        new CreateVolumeCommand({
          DryRun: true,
          AvailabilityZone: me.availabilityZone,
          Size: 1,
          VolumeType: 'gp3',
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: TAGS.namespace, Value: namespaceOf(ebsTag) }] }],
        }),
      ),
  },
  AttachVolume: { onVolume: true, call: (ec2, me, volumeId) => ec2.send(new AttachVolumeCommand({ DryRun: true, VolumeId: volumeId, InstanceId: me.instanceId, Device: '/dev/xvdz' })) },
  DetachVolume: { onVolume: true, call: (ec2, _me, volumeId) => ec2.send(new DetachVolumeCommand({ DryRun: true, VolumeId: volumeId })) },
  DeleteVolume: { onVolume: true, call: (ec2, _me, volumeId) => ec2.send(new DeleteVolumeCommand({ DryRun: true, VolumeId: volumeId })) },
  ModifyVolume: { onVolume: true, call: (ec2, _me, volumeId, sizeGiB) => ec2.send(new ModifyVolumeCommand({ DryRun: true, VolumeId: volumeId, Size: sizeGiB + 1 })) },
  CreateTags: { onVolume: true, call: (ec2, _me, volumeId) => ec2.send(new CreateTagsCommand({ DryRun: true, Resources: [volumeId], Tags: [{ Key: 'berth:doctor', Value: 'dry-run' }] })) },
  DeleteTags: { onVolume: true, call: (ec2, _me, volumeId) => ec2.send(new DeleteTagsCommand({ DryRun: true, Resources: [volumeId], Tags: [{ Key: 'berth:doctor' }] })) },
  CreateSnapshot: { onVolume: true, call: (ec2, _me, volumeId) => ec2.send(new CreateSnapshotCommand({ DryRun: true, VolumeId: volumeId })) },
  DeleteSnapshot: { call: (ec2) => ec2.send(new DeleteSnapshotCommand({ DryRun: true, SnapshotId: NO_SUCH_SNAPSHOT })) },
};

export const CHECKED_ACTIONS = Object.keys(DRY_RUNS);

async function dryRunOutcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'answered';
  } catch (err) {
    return errorCodeOf(err) || 'error';
  }
}

export async function diagnoseEc2(ec2: EC2Client, me: InstanceIdentity, config: { tag: string; useLargeDeviceRange: boolean }, sample: Ec2Sample): Promise<DoctorCheck[]> {
  const volumeId = sample.volumeId ?? NO_SUCH_VOLUME;
  const outcomes = await Promise.all(
    Object.entries(DRY_RUNS).map(async ([action, { call, onVolume }]) => ({
      action,
      onVolume: Boolean(onVolume),
      code: await dryRunOutcome(() => call(ec2, me, volumeId, sample.sizeGiB ?? 1, config.tag)),
    })),
  );
  const credentialFailure = outcomes.find(({ code }) => CREDENTIAL_CODES.has(code));
  if (credentialFailure) {
    return [
      {
        name: 'credentials',
        outcome: 'fail',
        detail: `EC2 refused the credentials (${credentialFailure.code})`,
        fix: 'Give the instance a role with the README\'s policy, or set EBS_ACCESSKEY and EBS_SECRETKEY to a valid key.',
      },
    ];
  }
  const checks: DoctorCheck[] = [{ name: 'credentials', outcome: 'pass', detail: 'EC2 accepts the credentials' }];
  for (const { action, onVolume, code } of outcomes) checks.push(iamCheck(action, code, onVolume && !sample.volumeId));
  checks.push(await attachmentCheck(ec2, me, config.useLargeDeviceRange));
  return checks;
}

function iamCheck(action: string, code: string, askedForNoVolume: boolean): DoctorCheck {
  const name = `iam:${action}`;
  if (code === 'DryRunOperation') return { name, outcome: 'pass', detail: 'allowed (DryRun)' };
  if (code === 'UnauthorizedOperation') {
    const fix = `Allow ec2:${action} in the instance role's policy (the README's "Minimal IAM policy" lists every action berth calls).`;
    if (askedForNoVolume) {
      return { name, outcome: 'warn', detail: `refused for a volume that does not exist (berth has none yet): a tag condition in the policy may be why`, fix };
    }
    return { name, outcome: 'fail', detail: `EC2 says this identity may not call ${action}`, fix };
  }
  return { name, outcome: 'pass', detail: `not refused by IAM (EC2 answered the DryRun with ${code})` };
}

async function attachmentCheck(ec2: EC2Client, me: InstanceIdentity, useLargeDeviceRange: boolean): Promise<DoctorCheck> {
  let inUse: string[];
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [me.instanceId] }));
    const instance = out.Reservations?.flatMap((reservation) => reservation.Instances ?? []).find((found) => found.InstanceId === me.instanceId);
    inUse = (instance?.BlockDeviceMappings ?? []).map((mapping) => canonicalDeviceName(mapping.DeviceName ?? '')).filter(Boolean);
  } catch (err) {
    return { name: 'attachments', outcome: 'skip', detail: `DescribeInstances failed (${errorCodeOf(err)})` };
  }
  const names = deviceNames(useLargeDeviceRange);
  const free = names.filter((name) => !inUse.includes(name)).length;
  const detail = `${inUse.length} block devices attached; ${free} of berth's ${names.length} device names free; Nitro types allow about ${NITRO_SHARED_SLOTS} attachments in all`;
  if (free === 0 || inUse.length >= NITRO_SHARED_SLOTS) {
    return { name: 'attachments', outcome: 'fail', detail, fix: 'Detach volumes this instance no longer needs, or use an instance type with more attachment slots.' };
  }
  if (free < FEW_NAMES_LEFT && !useLargeDeviceRange) {
    return { name: 'attachments', outcome: 'warn', detail, fix: 'Set EBS_USELARGEDEVICERANGE=true for 26 more device names, or spread volumes over more instances.' };
  }
  if (free < FEW_NAMES_LEFT || inUse.length >= NITRO_SHARED_SLOTS - FEW_NAMES_LEFT) {
    return { name: 'attachments', outcome: 'warn', detail, fix: 'Spread volumes over more instances, or use an instance type with more attachment slots.' };
  }
  return { name: 'attachments', outcome: 'pass', detail };
}
