/**
 * Steps of bringing a volume into use that both a Docker Mount and a cluster volume's publish and stage take: taking
 * it over from another instance, making its filesystem (only ever on a volume berth created empty), and mounting it.
 */
import { attachedElsewhereError, heldElsewhere } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import { BerthError } from '../common/errors';
import type { ServiceDeps } from './deps';
import { waitWhileHeld } from './release-wait';

/**
 * A volume held by an instance other than `target` (this one, or the node a cluster volume is published to): first wait (bounded) for that instance to release it, as it does when its
 * container stops (Swarm starts the new task before the old one's Unmount arrives there); then refuse, naming it,
 * or with preemption force it off that instance.
 */
export async function takeOver(volume: CloudVolume, target: string, signal: AbortSignal, deps: ServiceDeps): Promise<CloudVolume> {
  const { cloud, config, logger } = deps;
  if (!heldElsewhere(volume, target)) return volume;
  volume = await waitWhileHeld(volume, (latest) => heldElsewhere(latest, target), {
    timeoutMs: config.releaseWaitMs,
    signal,
    logMessage: 'volume attached to another instance; waiting for it to be released',
  }, deps);
  const holder = heldElsewhere(volume, target);
  if (!holder) return volume;
  if (!config.preempt) {
    throw attachedElsewhereError(volume, holder, 'stop its user there, or enable preemption (EBS_PREEMPT=true) to take it over');
  }
  logger.warn('preempting volume: force-detaching it from another instance', { volume: volume.name, volumeId: volume.volumeId, from: holder.instanceId });
  await cloud.detach(volume.volumeId, { instanceId: holder.instanceId, force: true }, signal);
  return volume;
}

/**
 * Formats only a volume berth created that still carries the unformatted marker and in which blkid finds neither a
 * filesystem nor a partition table. Anything else is mounted as it is or refused: raw data looks empty to blkid.
 */
export async function ensureFilesystem(
  volume: CloudVolume,
  device: string,
  { cloud, host, logger }: ServiceDeps,
): Promise<{ fsType: string; fresh: boolean; markedFormatted: Promise<void> }> {
  const probe = await host.probe(device);
  if (probe.partitionTable) {
    throw new BerthError(
      'unsafe-device',
      `volume ${volume.name} (${volume.volumeId}) holds a ${probe.partitionTable} partition table; berth mounts whole-device filesystems only and never formats it`,
    );
  }
  if (probe.fsType) {
    if (volume.unformatted) await cloud.markFormatted(volume.volumeId);
    return { fsType: probe.fsType, fresh: false, markedFormatted: Promise.resolve() };
  }
  if (volume.owner !== 'berth' || !volume.unformatted) {
    throw new BerthError(
      'unsafe-device',
      `volume ${volume.name} (${volume.volumeId}) has no filesystem blkid recognises and was not created empty by berth; refusing to format it (it may hold data)`,
    );
  }
  logger.info('formatting new volume', { volume: volume.name, volumeId: volume.volumeId, fsType: volume.format.fsType });
  await host.format(device, volume.format.fsType, volume.format.mkfsOptions);
  // Tagged while the new filesystem is mounted; awaited before Mount answers. Should it fail, the next Mount finds
  // the filesystem and tags it then: the marker only ever allows a format, never demands one.
  const markedFormatted = cloud.markFormatted(volume.volumeId);
  markedFormatted.catch(() => undefined);
  return { fsType: volume.format.fsType, fresh: true, markedFormatted };
}

export interface MountHooks {
  /** Just before mount(8) (Mount clears a stray mount of its own device there). */
  beforeMount?: () => Promise<void>;
  /** Right after mount(8) succeeded: from here on, a failure leaves the unmount to the caller. */
  mounted: () => void;
}

/**
 * Mounts the attached device at `target` with its data directory ready: a filesystem made only where
 * ensureFilesystem allows; one that is not in use elsewhere on this machine checked and grown (before and after
 * mount(8), as each filesystem allows); answers once the formatted marker is written.
 */
export async function mountFilesystem(
  volume: CloudVolume,
  device: string,
  target: string,
  dataDir: string,
  signal: AbortSignal,
  deps: ServiceDeps,
  hooks: MountHooks,
): Promise<{ fsType: string }> {
  const { host, config } = deps;
  const inUse = await host.deviceInUse(device);
  const { fsType, fresh, markedFormatted } = await ensureFilesystem(volume, device, deps);
  if (!fresh && !inUse) {
    await host.check(device, fsType);
    await host.growBeforeMount(device, fsType);
  }
  signal.throwIfAborted();
  await hooks.beforeMount?.();
  await host.mount(device, target, fsType);
  hooks.mounted();
  if (!fresh && !inUse) await host.growAfterMount(device, target, fsType);
  await host.prepareDataDir(dataDir, { uid: volume.format.uid, gid: volume.format.gid, mode: volume.format.mode ?? config.volumeFileMode });
  await markedFormatted;
  return { fsType };
}
