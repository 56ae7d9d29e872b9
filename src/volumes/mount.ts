/**
 * Mounting one volume on this host: take it over from another instance if allowed, attach, find the device,
 * format only a volume berth created unformatted, check, mount, grow, prepare the data directory. Whatever a
 * failed or abandoned call did is undone, so nothing stays attached that no Unmount will release.
 */
import { attachedTo, zoneMismatchError } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import { BerthError, errorMessage } from '../common/errors';
import type { ReleaseDeps, ServiceDeps } from './deps';
import type { MountRecord } from './refcounts';
import { mountFilesystem, takeOver } from './mount-steps';

type MountDeps = ServiceDeps & Pick<ReleaseDeps, 'pendingDetaches'>;

interface UndoStep {
  what: string;
  run: (signal: AbortSignal) => Promise<unknown>;
  /** What keeps the machine right when the step itself fails. */
  ifFailed?: (err: unknown) => Promise<void>;
}

const ROLLBACK_BOUND_MS = 60_000;

export async function mountVolume(
  requested: CloudVolume,
  mountpoint: string,
  dataPath: string,
  signal: AbortSignal,
  deps: MountDeps,
): Promise<{ record: Omit<MountRecord, 'ids' | 'since'>; volume: CloudVolume }> {
  const { cloud, host, logger } = deps;
  const here = cloud.identity();
  let volume = requested;
  if (volume.availabilityZone !== here.availabilityZone) {
    throw zoneMismatchError(volume, here);
  }
  volume = await takeOver(volume, here.instanceId, signal, deps);

  const undo: UndoStep[] = [];
  try {
    // The detach is registered before AttachVolume is sent: an attach can take effect and still fail (its answer
    // lost, a 5xx after the change, the deadline). Detaching what never got attached is harmless ("already detached"
    // counts as done), and a detach that fails is left to the background queue, never forgotten.
    if (!attachedTo(volume, here.instanceId)) undo.push(detachStep(volume, deps));
    const attachOptions = { deviceAppeared: (name: string, stop: AbortSignal) => host.findDevice(volume.volumeId, name, stop) };
    let deviceName: string;
    try {
      deviceName = await cloud.attach(volume.volumeId, signal, attachOptions);
    } catch (err) {
      // Another instance attached it since we looked: wait for it like any holder (or preempt), then try once more.
      if (!(err instanceof BerthError && err.code === 'attached-elsewhere')) throw err;
      volume = await takeOver((await cloud.describe(volume.volumeId, signal)) ?? volume, here.instanceId, signal, deps);
      deviceName = await cloud.attach(volume.volumeId, signal, attachOptions);
    }
    const device = await host.findDevice(volume.volumeId, deviceName, signal);
    const { fsType } = await mountFilesystem(volume, device, mountpoint, dataPath, signal, deps, {
      beforeMount: () => clearUnrecordedMount(mountpoint, device, volume, deps),
      mounted: () => undo.push({ what: 'unmount', run: () => host.unmount(mountpoint) }),
    });
    signal.throwIfAborted();
    logger.info('volume mounted', { volume: volume.name, volumeId: volume.volumeId, device, fsType });
    const attachedHere = { instanceId: here.instanceId, device: deviceName, state: 'attached' as const };
    return {
      record: { volumeId: volume.volumeId, device, mountpoint },
      volume: { ...volume, state: 'in-use', unformatted: false, attachments: [attachedHere] },
    };
  } catch (err) {
    await rollback(undo, volume, deps);
    throw mountAbortReason(err, signal, `volume ${volume.name} (${volume.volumeId})`, deps.config.mountTimeoutMs);
  }
}

/**
 * This volume's own device, mounted at its mount point without a record: a Mount cut off (berth killed) after
 * mount(8) and before the user was recorded. That Mount was never answered, so no container was handed it, and the
 * mount may lack the shared propagation Docker needs: it is unmounted and mounted afresh. (Were a container using
 * it after all, its own mount keeps the filesystem.) Anything else mounted there is refused.
 */
async function clearUnrecordedMount(mountpoint: string, device: string, volume: CloudVolume, { host, logger }: ServiceDeps): Promise<void> {
  const mountedSource = await host.mountedSource(mountpoint);
  if (!mountedSource) return;
  if (mountedSource !== device) {
    throw new BerthError('host', `${mountpoint} is already mounted (from ${mountedSource}) but berth has no record of it; unmount it by hand`);
  }
  logger.warn('the volume is mounted at its mount point without a record (an earlier Mount was cut off); mounting it afresh', {
    volume: volume.name,
    volumeId: volume.volumeId,
    device,
    mountpoint,
  });
  await host.unmount(mountpoint);
}

function detachStep(volume: CloudVolume, { cloud, pendingDetaches }: MountDeps): UndoStep {
  return {
    what: 'detach',
    run: (signal) => cloud.detach(volume.volumeId, {}, signal),
    ifFailed: (err) => pendingDetaches.add(volume.volumeId, volume.name, `a failed Mount could not detach it: ${errorMessage(err)}`),
  };
}

async function rollback(undo: UndoStep[], volume: CloudVolume, { logger }: ServiceDeps) {
  for (const step of undo.reverse()) {
    try {
      await step.run(AbortSignal.timeout(ROLLBACK_BOUND_MS));
      logger.info('rolled back', { step: step.what, volume: volume.name, volumeId: volume.volumeId });
    } catch (err) {
      logger.error('rollback step failed', { step: step.what, volume: volume.name, volumeId: volume.volumeId, error: errorMessage(err) });
      await step.ifFailed?.(err).catch((followUpErr: unknown) =>
        logger.error('could not hand a failed rollback step on', { step: step.what, volume: volume.name, volumeId: volume.volumeId, error: errorMessage(followUpErr) }),
      );
    }
  }
}

/** What a Mount cut short by its deadline, a hang-up or shutdown answers, rather than the bare abort. */
export function mountAbortReason(err: unknown, signal: AbortSignal, what: string, mountTimeoutMs: number): unknown {
  if (err instanceof BerthError || !signal.aborted) return err;
  const reason = signal.reason;
  if (reason instanceof BerthError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new BerthError('timeout', `mounting ${what} did not finish within ${mountTimeoutMs / 1000} s; everything it did was undone`);
  }
  return new BerthError('timeout', `mounting ${what} was abandoned (${errorMessage(reason)}); everything it did was undone`);
}
