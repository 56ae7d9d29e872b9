/**
 * Attaching volumes to this instance and detaching them: a free device name per attach (DeviceAllocator, the next
 * name when EC2 says one is in use), the waits for `attached` and for the attachment to go, and detaching again an
 * attachment that stays `attaching` or that a deadline cut short, so that a retry starts clean.
 */
import { AttachVolumeCommand, DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { BerthError, errorMessage } from '../common/errors';
import { WaitTimeoutError, type PollResult } from '../common/poll';
import { anySignal } from '../common/signals';
import { attachedElsewhereError, attachmentTo, heldElsewhere } from './attachments';
import { statusWait } from './context';
import { waitAvailable } from './create';
import { DeviceAllocator } from './devices';
import { errorCodeOf, hasErrorCode, mapEc2Error } from './errors';
import { InstanceDevices } from './instance-devices';
import type { CloudParts } from './parts';
import { isGone } from './tags';
import type { AttachOptions, Attachment, CloudVolume, DetachOptions } from './types';

/** Longest time an attachment may stay `attaching` before berth detaches it again. */
export const STUCK_ATTACHING_MS = 20_000;
/** Device names tried per attach after EC2 answers "already in use". */
export const MAX_DEVICE_TRIES = 8;
/** A DetachVolume is repeated when the attachment still reads `attached` this long after the last request. */
const DETACH_REPEAT_MS = 5_000;

const ALREADY_DETACHED = ['IncorrectState', 'InvalidAttachment.NotFound'];

function isDeviceInUse(err: unknown, device: string): boolean {
  if (hasErrorCode(err, 'InvalidDevice.InUse')) return true;
  const message = errorMessage(err);
  return hasErrorCode(err, 'InvalidParameterValue') && (message.includes(device) || /already in use/i.test(message));
}

export class VolumeAttacher {
  private readonly allocator: DeviceAllocator;
  private readonly instanceDevices: InstanceDevices;

  constructor(private readonly parts: CloudParts) {
    this.allocator = new DeviceAllocator({ useLargeDeviceRange: parts.config.useLargeDeviceRange });
    this.instanceDevices = new InstanceDevices(parts.ec2, parts.identity.instanceId);
  }

  /** This instance's id. */
  private get me(): string {
    return this.parts.identity.instanceId;
  }

  async attach(volumeId: string, signal: AbortSignal, options: AttachOptions = {}): Promise<string> {
    const until = (device: string, requestedAt = Date.now()) => this.untilAttached(volumeId, device, requestedAt, signal, options.deviceAppeared);
    let volume = this.parts.lookups.recentlyUnattached(volumeId) ?? (await this.parts.lookups.requireVolume(volumeId, 'attach', signal));
    this.refuseIfAttachedElsewhere(volume);
    const current = this.attachmentHere(volume);
    if (current && (current.state === 'attached' || current.state === 'attaching' || current.state === 'busy')) {
      this.parts.logger.debug('volume already attached here; reusing its device', { volumeId, device: current.device, state: current.state });
      return current.state === 'attaching' ? until(current.device) : current.device;
    }
    if (current?.state === 'detaching') await this.waitDetached(volumeId, this.me, signal);
    if (volume.state === 'creating') volume = await waitAvailable(this.parts, volumeId, signal);
    if (volume.state !== 'available' && volume.state !== 'in-use') {
      throw new BerthError('cloud', `cannot attach ${volumeId}: the volume is ${volume.state}`);
    }

    this.parts.lookups.forgetRecent(volumeId);
    for (let tries = 1; ; tries++) {
      const device = await this.allocator.allocate(volumeId, () => this.instanceDevices.namesInUse(signal));
      const requestedAt = Date.now();
      try {
        await this.parts.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: this.me, Device: device }), {
          abortSignal: signal,
        });
      } catch (err) {
        if (signal.aborted) {
          // EC2 may have started the attachment before the call was cut off.
          throw await this.abandonAttach(volumeId, device, 'could not be attached before the deadline (AttachVolume was cancelled)', err, false);
        }
        this.allocator.release(volumeId);
        this.instanceDevices.forget();
        if (isDeviceInUse(err, device)) {
          this.allocator.markLikelyBad(device);
          if (tries >= MAX_DEVICE_TRIES) {
            throw new BerthError(
              'cloud',
              `cannot attach ${volumeId}: EC2 refused ${tries} device names in a row as already in use on ${this.me} ` +
                `although the instance does not list them (last: ${device}: ${errorMessage(err)})`,
              { cause: err },
            );
          }
          this.parts.logger.warn('device name already in use on this instance; trying the next one', { volumeId, device, code: errorCodeOf(err) });
          continue;
        }
        if (hasErrorCode(err, 'VolumeInUse')) {
          const now = await this.parts.lookups.requireVolume(volumeId, 'attach', signal);
          this.refuseIfAttachedElsewhere(now);
          const here = this.attachmentHere(now);
          if (here && here.state !== 'detaching') return here.state === 'attached' ? here.device : until(here.device);
        }
        throw mapEc2Error(err, `AttachVolume ${volumeId} to ${this.me} at ${device}`);
      }
      // The cached device list stays valid: the allocator keeps this name reserved until the volume is detached.
      return until(device, requestedAt);
    }
  }

  async detach(volumeId: string, options: DetachOptions, signal: AbortSignal): Promise<void> {
    const instanceId = options.instanceId ?? this.me;
    const requestedAt = Date.now();
    const requested = await this.requestDetach(volumeId, instanceId, options.force ?? false, signal);
    if (requested === 'volume-gone') return this.afterDetach(volumeId, instanceId);
    const device = instanceId === this.me ? requested.device : undefined;
    if (device && options.deviceGone) await this.untilDetached(volumeId, device, requestedAt, signal, options.force ?? false, options.deviceGone);
    else await this.waitDetached(volumeId, instanceId, signal, options.force ?? false, requestedAt);
    this.afterDetach(volumeId, instanceId);
  }

  /**
   * EC2's word or the device leaving this machine, whichever comes first: the device is the host's own view of the
   * detach, and while it is watched EC2 is asked only as the fallback (polls at least 2 s apart), so that a
   * detach this host has not yet learned the pace of costs one or two DescribeVolumes instead of ten.
   */
  private async untilDetached(
    volumeId: string,
    device: string,
    requestedAt: number,
    signal: AbortSignal,
    force: boolean,
    deviceGone: NonNullable<DetachOptions['deviceGone']>,
  ): Promise<void> {
    const settled = new AbortController();
    const either = anySignal([signal, settled.signal]);
    const seen = deviceGone(device, either).then(
      () => this.parts.pace.record('detach', Date.now() - requestedAt),
      () => new Promise<void>(() => undefined),
    );
    const polled = this.waitDetached(volumeId, this.me, either, force, requestedAt, true).catch((err: unknown) => {
      // The device went first: the detach is done here, and EC2's wait is simply no longer needed.
      if (!(settled.signal.aborted && !signal.aborted)) throw err;
    });
    try {
      await Promise.race([polled, seen]);
    } finally {
      settled.abort();
    }
  }

  /** EC2's word or the device itself, whichever comes first: at zero delay or on a fast attach, no poll at all. */
  private async untilAttached(
    volumeId: string,
    device: string,
    requestedAt: number,
    signal: AbortSignal,
    deviceAppeared?: AttachOptions['deviceAppeared'],
  ): Promise<string> {
    if (!deviceAppeared) return this.waitAttached(volumeId, device, requestedAt, signal);
    const settled = new AbortController();
    const either = anySignal([signal, settled.signal]);
    const seen = deviceAppeared(device, either).then(
      () => {
        this.parts.pace.record('attach', Date.now() - requestedAt);
        return device;
      },
      () => new Promise<string>(() => undefined),
    );
    try {
      return await Promise.race([this.waitAttached(volumeId, device, requestedAt, signal, settled.signal), seen]);
    } finally {
      settled.abort();
    }
  }

  /**
   * Waits until this instance's attachment is `attached`; detaches it again when it stays `attaching`. Ends quietly
   * with the device once `settled` aborts (the device was seen first).
   */
  private async waitAttached(volumeId: string, device: string, requestedAt: number, signal: AbortSignal, settled?: AbortSignal): Promise<string> {
    const boundMs = Math.min(this.parts.config.statusTimeoutMs, STUCK_ATTACHING_MS);
    const pollSignal = settled ? anySignal([signal, settled]) : signal;
    try {
      return await this.parts.pace.wait<string>(
        'attach',
        requestedAt,
        async () => {
          const volume = await this.parts.lookups.requireVolume(volumeId, 'attach', signal);
          const here = this.attachmentHere(volume);
          if (here?.state === 'attached') {
            if (here.device && here.device !== device) {
              this.parts.logger.warn('EC2 reports another device name than requested', { volumeId, requested: device, reported: here.device });
            }
            return { done: true, value: here.device || device };
          }
          this.refuseIfAttachedElsewhere(volume);
          return { done: false, state: here ? `${here.state} at ${here.device}` : 'no attachment to this instance yet' };
        },
        statusWait(this.parts.config, `${volumeId} to attach to ${this.me} at ${device}`, boundMs, pollSignal),
        // While the device itself is watched, EC2's word is only the fallback.
        { fallback: settled !== undefined },
      );
    } catch (err) {
      // The device showed up first: the attachment is done, and this wait is simply no longer needed.
      if (settled?.aborted && !signal.aborted) return device;
      if (!(err instanceof WaitTimeoutError) && !(signal.aborted && err instanceof BerthError && err.code === 'timeout')) {
        this.allocator.release(volumeId);
        throw err;
      }
      const lastState = err instanceof WaitTimeoutError ? err.lastState : 'unknown (the wait was cancelled)';
      throw await this.abandonAttach(volumeId, device, `was stuck attaching (last state: ${lastState})`, err, true);
    }
  }

  /**
   * Detaches (naming this instance) an attachment berth stopped waiting for, so that a retry starts clean, and
   * returns the timeout error to throw. After a stuck attachment the device name is avoided for an hour: ghost
   * attachments hang on to it.
   */
  private async abandonAttach(volumeId: string, device: string, what: string, cause: unknown, stuck: boolean): Promise<BerthError> {
    if (stuck) this.allocator.markLikelyBad(device);
    this.allocator.release(volumeId);
    this.instanceDevices.forget();
    let outcome = 'berth has asked EC2 to detach it so that a retry starts clean';
    this.parts.lookups.forgetRecent(volumeId);
    try {
      await this.parts.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: this.me, Device: device }), {
        abortSignal: AbortSignal.timeout(this.parts.config.callTimeoutMs),
      });
    } catch (err) {
      if (!hasErrorCode(err, ...ALREADY_DETACHED, 'InvalidVolume.NotFound')) {
        outcome = `detaching it again failed too (${mapEc2Error(err, 'DetachVolume').message}); detach it by hand before retrying`;
      }
    }
    this.parts.logger.warn('abandoned an attach and detached the volume again', { volumeId, device, instanceId: this.me, what });
    return new BerthError('timeout', `volume ${volumeId} ${what} on this instance (${this.me}) at ${device}; ${outcome}`, { cause });
  }

  /**
   * 'requested' (with the device EC2 names in its answer), or 'volume-gone' when the volume no longer exists.
   * "Already detached" answers count as requested.
   */
  private async requestDetach(volumeId: string, instanceId: string, force: boolean, signal?: AbortSignal): Promise<{ device?: string } | 'volume-gone'> {
    this.parts.lookups.forgetRecent(volumeId);
    try {
      const out = await this.parts.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, ...(force ? { Force: true } : {}) }), {
        abortSignal: signal,
      });
      return { device: out.Device || undefined };
    } catch (err) {
      if (hasErrorCode(err, 'InvalidVolume.NotFound')) return 'volume-gone';
      if (!hasErrorCode(err, ...ALREADY_DETACHED)) throw mapEc2Error(err, `DetachVolume ${volumeId} from ${instanceId}`);
      this.parts.logger.debug('volume already detached or detaching', { volumeId, instanceId, code: errorCodeOf(err) });
    }
    return {};
  }

  private async waitDetached(volumeId: string, instanceId: string, signal: AbortSignal, force = false, requestedAt = Date.now(), fallback = false): Promise<void> {
    let lastRequest = requestedAt;
    await this.parts.pace.wait<true>(
      'detach',
      requestedAt,
      async (): Promise<PollResult<true>> => {
        const volume = await this.parts.lookups.describe(volumeId, signal);
        const attachment = volume && attachmentTo(volume, instanceId);
        if (!volume || isGone(volume) || !attachment) return { done: true, value: true };
        if (attachment.state === 'attached' && Date.now() - lastRequest >= DETACH_REPEAT_MS) {
          // An "IncorrectState" answer while it was still attaching, or a lost request: ask again.
          lastRequest = Date.now();
          if ((await this.requestDetach(volumeId, instanceId, force, signal)) === 'volume-gone') return { done: true, value: true };
        }
        return { done: false, state: `${attachment.state} at ${attachment.device}` };
      },
      statusWait(this.parts.config, `${volumeId} to detach from ${instanceId}`, this.parts.config.statusTimeoutMs, signal),
      { fallback },
    );
  }

  /** A freed name may linger in the cached device list for a moment: it is then skipped once, which is harmless. */
  private afterDetach(volumeId: string, instanceId: string): void {
    if (instanceId === this.me) this.allocator.release(volumeId);
  }

  private attachmentHere(volume: CloudVolume): Attachment | undefined {
    return attachmentTo(volume, this.me);
  }

  private refuseIfAttachedElsewhere(volume: CloudVolume): void {
    const other = heldElsewhere(volume, this.me);
    if (other) throw attachedElsewhereError(volume, other, `not to this one (${this.me})`);
  }
}
