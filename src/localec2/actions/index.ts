/** The EC2 actions the simulator implements, by Query API name. */
import { attachVolume, detachVolume } from './attachments';
import type { Action } from './context';
import { startInstances, stopInstances, terminateInstances } from './instance-states';
import { describeAvailabilityZones, describeInstances } from './instances';
import { modifyInstanceMetadataOptions } from './metadata-options';
import { describeVolumesModifications, modifyVolume } from './modify';
import { createSnapshot, deleteSnapshot, describeSnapshots } from './snapshots';
import { createTags, deleteTags } from './tags';
import { createVolume, deleteVolume, describeVolumes } from './volumes';

export const ACTIONS: Record<string, Action> = {
  CreateVolume: createVolume,
  DescribeVolumes: describeVolumes,
  DeleteVolume: deleteVolume,
  AttachVolume: attachVolume,
  DetachVolume: detachVolume,
  ModifyVolume: modifyVolume,
  DescribeVolumesModifications: describeVolumesModifications,
  CreateSnapshot: createSnapshot,
  DescribeSnapshots: describeSnapshots,
  DeleteSnapshot: deleteSnapshot,
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeInstances: describeInstances,
  StopInstances: stopInstances,
  StartInstances: startInstances,
  TerminateInstances: terminateInstances,
  ModifyInstanceMetadataOptions: modifyInstanceMetadataOptions,
  DescribeAvailabilityZones: describeAvailabilityZones,
};
