/**
 * AttachVolume and DetachVolume, and what they do on the host: attaching -> attached binds the volume's
 * file to a loop device and puts the link the instance would see in its device directory; detaching ->
 * detached removes both. A forced detach first shuts down every filesystem still mounted from the device,
 * in any mount namespace (EC2 cuts the old host off the same way). A plain detach of a device that is still
 * mounted stays in "busy" until it is unmounted, as it does on EC2's Xen instances.
 */
import path from 'node:path';
import {
  Ec2Error,
  dryRunSucceeded,
  incorrectState,
  invalidParameterValue,
} from '../ec2-error';
import {
  attachLoop,
  detachLoop,
  findMounts,
  isLoopBoundTo,
  linkTarget,
  placeLink,
  removeLink,
  shutdownFilesystem,
  volumeFile,
} from '../devices';
import { checkInstanceId, checkVolumeId } from '../ids';
import { dataVolumeLimit } from '../instance-types';
import { attachmentXml, volumeStatus } from '../render';
import { type AttachmentRecord, type InstanceRecord, type LocalEc2State, type VolumeRecord, instanceState } from '../state';
import type { XmlObject } from '../xml';
import { type Action, type Ctx, nowIso } from './context';
import { findInstance, findVolume } from './lookups';

const BUSY_RECHECK_MS = 500;
const DEVICE_NAME = /^\/dev\/(sd[a-z]([a-z]|[1-9]|1[0-5])?|xvd[a-z][a-z]?)$/;

/** sdf and xvdf are the same attachment point (Xen exposes /dev/sdf as /dev/xvdf). */
function attachmentPoint(device: string): string {
  return path.basename(device).replace(/^sd/, 'xvd');
}

/** Where the instance sees the volume: <devdir>/xvdf, or the NVMe by-id link on Nitro instances. */
export function linkPathFor(instance: InstanceRecord, device: string, volumeId: string): string {
  if (instance.devices === 'nitro') {
    return path.join(instance.deviceDir, 'disk', 'by-id', `nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`);
  }
  return path.join(instance.deviceDir, attachmentPoint(device));
}

export function attachedTo(state: LocalEc2State, instanceId: string): VolumeRecord[] {
  return Object.values(state.volumes).filter((volume) => volume.attachment?.instanceId === instanceId);
}

async function exposeDevice(ctx: Ctx, volume: VolumeRecord, attachment: AttachmentRecord, instance: InstanceRecord): Promise<void> {
  attachment.loopDevice = await attachLoop(volumeFile(ctx.dataDir, volume.id));
  ctx.commit();
  const link = linkPathFor(instance, attachment.device, volume.id);
  await placeLink(link, attachment.loopDevice);
  attachment.link = link;
}

async function completeAttach(ctx: Ctx, volumeId: string, seq: number): Promise<void> {
  const volume = ctx.state.volumes[volumeId];
  const attachment = volume?.attachment;
  if (!attachment || attachment.seq !== seq || attachment.status !== 'attaching') return;
  if (ctx.faults.stuckAttaching(volumeId)) {
    ctx.log.warn('fault: attachment stays attaching', { volumeId, instanceId: attachment.instanceId });
    return;
  }
  const instance = ctx.state.instances[attachment.instanceId];
  if (ctx.faults.missingDevice(volumeId)) {
    attachment.deviceHidden = true;
    ctx.log.warn('fault: attached without a device', { volumeId, instanceId: attachment.instanceId });
  } else {
    await exposeDevice(ctx, volume, attachment, instance);
  }
  attachment.status = 'attached';
  ctx.commit();
  ctx.log.info('volume attached', { volumeId, instanceId: instance.id, device: attachment.device, loopDevice: attachment.loopDevice, link: attachment.link });
}

export const attachVolume: Action = {
  params: ['Device', 'InstanceId', 'VolumeId', 'EbsCardIndex'],
  async handle(ctx, { params, region, dryRun }) {
    const volumeId = checkVolumeId(params.require('VolumeId'));
    const instanceId = checkInstanceId(params.require('InstanceId'));
    const device = params.require('Device');
    const volume = findVolume(ctx.state, region, volumeId);
    const instance = findInstance(ctx.state, region, instanceId);
    const state = instanceState(instance);
    if (state !== 'running' && state !== 'stopped') {
      // AttachVolume's reference: "Attaches an EBS volume to a running or stopped instance". The code is
      // IncorrectInstanceState (EC2's for an instance in the wrong state); the message could not be verified.
      throw new Ec2Error('IncorrectInstanceState', `The instance '${instance.id}' is not in the 'running' or 'stopped' state (it is '${state}').`);
    }
    if (volume.lifecycle !== 'available') throw incorrectState(`${volume.id} is not 'available'.`);
    if (volume.attachment) throw new Ec2Error('VolumeInUse', `${volume.id} is already attached to an instance`);
    if (volume.availabilityZone !== instance.availabilityZone) {
      throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${volume.id}' is not in the same availability zone as instance '${instance.id}'`);
    }
    if (!DEVICE_NAME.test(device)) {
      throw invalidParameterValue(`Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`);
    }
    const onInstance = attachedTo(ctx.state, instance.id);
    if (onInstance.some((other) => attachmentPoint(other.attachment!.device) === attachmentPoint(device))) {
      throw invalidParameterValue(`Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`);
    }
    const limit = instance.maxVolumes ?? dataVolumeLimit(instance.instanceType);
    if (onInstance.filter((other) => !other.rootOf).length >= limit) {
      throw new Ec2Error('AttachmentLimitExceeded', `Instance '${instance.id}' (${instance.instanceType}) already has the maximum of ${limit} data volumes attached.`);
    }
    if (dryRun) throw dryRunSucceeded();
    ctx.state.attachmentSeq += 1;
    const attachment: AttachmentRecord = {
      instanceId: instance.id,
      device,
      status: 'attaching',
      attachTime: nowIso(),
      deleteOnTermination: false,
      seq: ctx.state.attachmentSeq,
    };
    volume.attachment = attachment;
    ctx.commit();
    const response = attachmentXml(volume.id, attachment);
    await ctx.scheduler.schedule(ctx.delays.attach, `attach ${volume.id}`, () => completeAttach(ctx, volume.id, attachment.seq));
    return response;
  },
};

async function completeDetach(ctx: Ctx, volumeId: string, seq: number): Promise<void> {
  const volume = ctx.state.volumes[volumeId];
  const attachment = volume?.attachment;
  if (!attachment || attachment.seq !== seq || (attachment.status !== 'detaching' && attachment.status !== 'busy')) return;
  const file = volumeFile(ctx.dataDir, volumeId);
  const loopDevice = attachment.loopDevice;
  const bound = loopDevice !== undefined && (await isLoopBoundTo(loopDevice, file));
  if (bound) {
    const mounts = await findMounts(loopDevice);
    if (mounts.length > 0 && !attachment.forced) {
      if (attachment.status !== 'busy') {
        attachment.status = 'busy';
        ctx.commit();
        ctx.log.warn('detach waits: the device is still mounted', { volumeId, mounts: mounts.map((mount) => `${mount.pid}:${mount.mountPoint}`) });
      }
      await ctx.scheduler.schedule(BUSY_RECHECK_MS, `detach ${volumeId}`, () => completeDetach(ctx, volumeId, seq));
      return;
    }
    for (const mount of mounts) {
      try {
        await shutdownFilesystem(mount);
        ctx.log.warn('forced detach: filesystem shut down', { volumeId, pid: mount.pid, mountPoint: mount.mountPoint });
      } catch (err) {
        ctx.log.error('forced detach: could not shut the filesystem down', { volumeId, pid: mount.pid, mountPoint: mount.mountPoint, error: String(err) });
      }
    }
  }
  if (attachment.link) await removeLink(attachment.link);
  if (bound) await detachLoop(loopDevice);
  delete volume.attachment;
  ctx.commit();
  ctx.log.info('volume detached', { volumeId, instanceId: attachment.instanceId, forced: attachment.forced === true });
}

export const detachVolume: Action = {
  params: ['VolumeId', 'InstanceId', 'Device', 'Force'],
  async handle(ctx, { params, region, dryRun }) {
    const volume = findVolume(ctx.state, region, params.require('VolumeId'));
    const instanceId = params.get('InstanceId');
    if (instanceId !== undefined) findInstance(ctx.state, region, instanceId);
    const device = params.get('Device');
    const force = params.bool('Force') ?? false;
    const attachment = volume.attachment;
    if (!attachment) throw incorrectState(`Volume '${volume.id}' is in the '${volumeStatus(volume)}' state.`);
    if (volume.rootOf) {
      throw new Ec2Error('OperationNotPermitted', `Unable to detach root volume '${volume.id}' from instance '${volume.rootOf}'`);
    }
    if ((instanceId !== undefined && attachment.instanceId !== instanceId) || (device !== undefined && device !== attachment.device)) {
      throw new Ec2Error(
        'InvalidAttachment.NotFound',
        `Volume '${volume.id}' is not attached to instance '${instanceId ?? attachment.instanceId}'${device !== undefined ? ` at ${device}` : ''}.`,
      );
    }
    if (dryRun) throw dryRunSucceeded();
    return beginDetach(ctx, volume, force);
  },
};

/**
 * Starts detaching (unless already detaching, or forced now where it was not before) and answers with the
 * attachment as it is then. TerminateInstances detaches this way too, forced: the instance is gone.
 */
export async function beginDetach(ctx: Ctx, volume: VolumeRecord, force: boolean): Promise<XmlObject> {
  const attachment = volume.attachment!;
  const alreadyDetaching = attachment.status === 'detaching' || attachment.status === 'busy';
  if (alreadyDetaching && (!force || attachment.forced)) return attachmentXml(volume.id, attachment);
  attachment.status = 'detaching';
  attachment.forced = force;
  ctx.commit();
  const response = attachmentXml(volume.id, attachment);
  await ctx.scheduler.schedule(ctx.delays.detach, `detach ${volume.id}`, () => completeDetach(ctx, volume.id, attachment.seq));
  return response;
}

async function restoreDevice(ctx: Ctx, volume: VolumeRecord, attachment: AttachmentRecord, instance: InstanceRecord): Promise<void> {
  const file = volumeFile(ctx.dataDir, volume.id);
  if (!attachment.loopDevice || !(await isLoopBoundTo(attachment.loopDevice, file))) {
    attachment.loopDevice = await attachLoop(file);
    ctx.log.info('re-attached loop device', { volumeId: volume.id, loopDevice: attachment.loopDevice });
  }
  const link = linkPathFor(instance, attachment.device, volume.id);
  if (attachment.link && attachment.link !== link) await removeLink(attachment.link);
  if ((await linkTarget(link)) !== attachment.loopDevice) await placeLink(link, attachment.loopDevice);
  attachment.link = link;
}

/**
 * After a restart: attached volumes get their loop device and link back (kept when still in place,
 * re-made when gone), and attachments that were changing resume their transition.
 */
export async function adoptAttachments(ctx: Ctx): Promise<void> {
  for (const volume of Object.values(ctx.state.volumes)) {
    const attachment = volume.attachment;
    if (!attachment || volume.rootOf) continue;
    const instance = ctx.state.instances[attachment.instanceId];
    if (!instance) continue;
    if (attachment.status === 'attaching') {
      await ctx.scheduler.schedule(ctx.delays.attach, `attach ${volume.id}`, () => completeAttach(ctx, volume.id, attachment.seq));
      continue;
    }
    if (attachment.status === 'detaching' || attachment.status === 'busy') {
      await ctx.scheduler.schedule(ctx.delays.detach, `detach ${volume.id}`, () => completeDetach(ctx, volume.id, attachment.seq));
      continue;
    }
    if (attachment.deviceHidden) continue;
    try {
      await restoreDevice(ctx, volume, attachment, instance);
    } catch (err) {
      ctx.log.error('could not restore the device of an attached volume', { volumeId: volume.id, instanceId: instance.id, error: String(err) });
    }
  }
  ctx.commit();
}
