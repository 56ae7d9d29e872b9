/**
 * Giving a volume back once no container on this machine uses it: unmount berth's side, and only if nothing else
 * on the machine still holds the device (tested with an exclusive open, which sees every mount namespace), forget
 * its users and detach it; if something does, berth's side is mounted again while users are recorded. Used after the last Unmount, when a short linger ends, and for users recorded by an
 * earlier run that Docker may never unmount.
 */
import { errorMessage } from '../common/errors';
import type { ReleaseDeps } from './deps';

export type ReleaseOutcome = 'released' | 'detaching-later' | 'still-held' | 'not-mounted';

/**
 * Caller holds the volume's lock. With `detachInBackground`, the detach is left to the retrying background queue
 * (start-up: Docker is waiting for the plugin); otherwise a failed detach goes there.
 */
export async function releaseVolume(
  name: string,
  { refcounts, catalog, pendingDetaches, host, cloud, logger, config }: ReleaseDeps,
  options: { reason: string; detachInBackground?: boolean; signal?: AbortSignal },
): Promise<ReleaseOutcome> {
  const record = refcounts.get(name);
  if (!record) return 'not-mounted';
  const wasMounted = await host.mountedSource(record.mountpoint);
  await host.unmount(record.mountpoint);
  if (await host.deviceInUse(record.device)) {
    // Users remain (containers from before a restart): berth's side is what the next Mount hands out.
    if (wasMounted && refcounts.users(name) > 0) await host.mount(record.device, record.mountpoint, (await host.probe(record.device)).fsType ?? '');
    logger.warn('volume still mounted elsewhere on this machine; not detaching it yet', {
      volume: name,
      volumeId: record.volumeId,
      device: record.device,
      users: refcounts.users(name),
    });
    return 'still-held';
  }
  await refcounts.forget(name);
  if (options.detachInBackground) {
    await pendingDetaches.add(record.volumeId, name, options.reason);
    return 'detaching-later';
  }
  try {
    const deviceGone = (deviceName: string, stop: AbortSignal) => host.deviceGone(record.volumeId, deviceName, stop);
    await cloud.detach(record.volumeId, { deviceGone }, options.signal ?? AbortSignal.timeout(config.statusTimeoutMs));
  } catch (err) {
    await pendingDetaches.add(record.volumeId, name, `${options.reason}; detach failed: ${errorMessage(err)}`);
    return 'detaching-later';
  }
  const known = catalog.known(name);
  if (known?.volumeId === record.volumeId) await catalog.remember({ ...known, state: 'available', attachments: [] });
  logger.info('volume released', { volume: name, volumeId: record.volumeId, reason: options.reason });
  return 'released';
}
