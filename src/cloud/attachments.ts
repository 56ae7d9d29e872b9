/**
 * Who holds a volume, as EC2 last described it: the one place that decides "attached here, elsewhere or nowhere",
 * and the one wording of the errors that follow from it.
 */
import { BerthError } from '../common/errors';
import type { Attachment, CloudVolume, InstanceIdentity } from './types';

/** Attachments that still tie the volume to an instance (anything but `detached`). */
export function liveAttachments(volume: CloudVolume): Attachment[] {
  return volume.attachments.filter((attachment) => attachment.state !== 'detached');
}

/** The instance holding the volume, if any. */
export function holderOf(volume: CloudVolume): Attachment | undefined {
  return liveAttachments(volume)[0];
}

/** This instance's live attachment of the volume, whatever its state. */
export function attachmentTo(volume: CloudVolume, instanceId: string): Attachment | undefined {
  return liveAttachments(volume).find((attachment) => attachment.instanceId === instanceId);
}

/** Another instance's live attachment of the volume. */
export function heldElsewhere(volume: CloudVolume, instanceId: string): Attachment | undefined {
  return liveAttachments(volume).find((attachment) => attachment.instanceId !== instanceId);
}

/** Attached or on its way to being attached to this instance (not detaching, not busy). */
export function attachedTo(volume: CloudVolume | undefined, instanceId: string): boolean {
  const here = volume && attachmentTo(volume, instanceId);
  return here?.state === 'attached' || here?.state === 'attaching';
}

export function volumeLabel(volume: CloudVolume): string {
  return volume.name ? `${volume.name} (${volume.volumeId})` : volume.volumeId;
}

/** "volume db (vol-1) is attached to instance i-2 …; <what to do>" */
export function attachedElsewhereError(
  volume: CloudVolume,
  holder: Attachment,
  advice: string,
  code: 'attached-elsewhere' | 'in-use' = 'attached-elsewhere',
): BerthError {
  const state = holder.state === 'attached' ? '' : ` (${holder.state})`;
  return new BerthError(code, `volume ${volumeLabel(volume)} is attached to instance ${holder.instanceId}${state} as ${holder.device || 'an unknown device'}; ${advice}`);
}

/** "volume db (vol-1) is in us-east-1b but this instance i-2 is in us-east-1a; …" */
export function zoneMismatchError(volume: CloudVolume, here: InstanceIdentity, advice = ''): BerthError {
  return new BerthError(
    'zone-mismatch',
    `volume ${volumeLabel(volume)} is in ${volume.availabilityZone} but this instance ${here.instanceId} is in ${here.availabilityZone}; ` +
      `EBS volumes attach only within their availability zone${advice ? ` (${advice})` : ''}`,
  );
}
