/**
 * Resize and modify: ModifyVolume under the volume's lock, the wait through `modifying` until the new size is
 * usable (`optimizing`, as EC2 documents it) without the lock, so Docker's calls go on meanwhile, then the
 * filesystem grown under the lock while containers keep using it. A modification EC2 still runs is waited for
 * first: EC2 takes a new one only once every earlier one has completed.
 */
import type { CloudVolume, VolumeModification } from '../cloud/types';
import { BerthError } from '../common/errors';
import { waitFor } from '../common/poll';
import type { AdministrationDeps } from './administration-deps';
import { checkChange } from './modify-rules';
import type { FilesystemGrowth, ModifyResult, ProgressListener, VolumeChange } from './operations';
import { adminView } from './admin-views';

/** A modification can take minutes in EC2 (hours for optimizing, which this wait does not need). */
const MODIFICATION_WAIT_MS = 6 * 60 * 60 * 1000;
const FIRST_POLL_MS = 500;
const LONGEST_POLL_GAP_MS = 5_000;
/** How long the kernel may take to see the larger device once EC2 says the size is usable. */
const DEVICE_GROWTH_WAIT_MS = 60_000;

function inProgress(modification: VolumeModification | undefined): modification is VolumeModification {
  return modification?.state === 'modifying' || modification?.state === 'optimizing';
}

function progressOf(modification: VolumeModification, what: string): { step: string; message: string; percent?: number } {
  return {
    step: modification.state,
    message: `${what}: ${modification.state}`,
    ...(modification.progress !== undefined && { percent: modification.progress }),
  };
}

/** Polls the volume's latest modification until `done` says so, telling `progress` each state seen. */
async function watchModification(
  deps: AdministrationDeps,
  volumeId: string,
  what: string,
  done: (modification: VolumeModification | undefined) => boolean,
  progress: ProgressListener,
  signal: AbortSignal,
): Promise<VolumeModification | undefined> {
  return waitFor(
    async () => {
      const modification = await deps.cloud.latestModification(volumeId, signal);
      if (modification?.state === 'failed') {
        throw new BerthError('cloud', `EC2 could not modify ${volumeId}${modification.statusMessage ? `: ${modification.statusMessage}` : ''}; the volume keeps its earlier size and type`);
      }
      if (done(modification)) return { done: true, value: modification };
      if (modification) progress(progressOf(modification, what));
      return { done: false, state: modification?.state ?? 'not visible yet' };
    },
    { what, initialDelayMs: 0, maxAttempts: Number.MAX_SAFE_INTEGER, timeoutMs: MODIFICATION_WAIT_MS, signal, maxDelayMs: LONGEST_POLL_GAP_MS, factor: 1.5 },
  ).catch((err: unknown) => {
    if (signal.aborted) throw new BerthError('timeout', `stopped waiting for ${what}: the caller went away (EC2 goes on with the modification)`);
    throw err;
  });
}

export async function modifyVolume(name: string, change: VolumeChange, deps: AdministrationDeps, progress: ProgressListener, signal: AbortSignal): Promise<ModifyResult> {
  const started = Date.now();
  const before = await deps.lookUp(name, signal);
  const earlier = await deps.cloud.latestModification(before.volumeId, signal);
  if (inProgress(earlier)) {
    progress({ step: 'waiting', message: `volume ${name} is being modified already; waiting for that to complete` });
    await watchModification(deps, before.volumeId, `the earlier modification of ${name}`, (latest) => !inProgress(latest), progress, signal);
  }

  const { volume, target } = await deps.underLock(name, async () => {
    const current = await deps.lookUp(name, signal);
    const asked = checkChange(current, change);
    await deps.cloud.modifyVolume(current.volumeId, asked, signal);
    deps.logger.info('volume modification started', { volume: name, volumeId: current.volumeId, ...asked });
    return { volume: current, target: asked };
  });
  progress({ step: 'modifying', message: `EC2 is modifying ${name}`, percent: 0 });
  await watchModification(deps, volume.volumeId, `EC2 to modify ${name}`, (latest) => latest?.state === 'optimizing' || latest?.state === 'completed', progress, signal);
  const usable = Date.now();

  const filesystem = target.sizeGiB === undefined ? unchanged() : await deps.underLock(name, () => growFilesystem(name, volume, target.sizeGiB!, deps, progress, signal));
  const after = await deps.lookUp(name, signal);
  deps.logger.info('volume modified', { volume: name, volumeId: volume.volumeId, filesystem: filesystem.growth, seconds: (usable - started) / 1000 });
  return { volume: adminView(after, deps), filesystem: filesystem.growth, message: filesystem.message, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

function unchanged(): { growth: FilesystemGrowth; message: string } {
  return { growth: 'unchanged', message: 'the size did not change, so the filesystem stays as it is' };
}

/** Caller holds the lock. Grows the filesystem now when it is mounted here; otherwise the next Mount grows it. */
async function growFilesystem(
  name: string,
  volume: CloudVolume,
  sizeGiB: number,
  deps: AdministrationDeps,
  progress: ProgressListener,
  signal: AbortSignal,
): Promise<{ growth: FilesystemGrowth; message: string }> {
  const record = deps.refcounts.get(name);
  if (!record || record.volumeId !== volume.volumeId || !(await deps.host.mountedSource(record.mountpoint))) {
    return { growth: 'at-next-mount', message: `volume ${name} is not mounted on this host: its filesystem grows to ${sizeGiB} GiB when it is next mounted` };
  }
  progress({ step: 'growing', message: `waiting for this machine to see ${name} at ${sizeGiB} GiB` });
  await waitFor(
    async () => {
      const bytes = await deps.host.deviceBytes(record.device);
      return bytes >= sizeGiB * 2 ** 30 ? { done: true, value: bytes } : { done: false, state: `${(bytes / 2 ** 30).toFixed(1)} GiB` };
    },
    { what: `${record.device} to show ${sizeGiB} GiB`, initialDelayMs: 0, maxAttempts: 1000, timeoutMs: DEVICE_GROWTH_WAIT_MS, maxDelayMs: 1_000, signal },
  );
  progress({ step: 'growing', message: `growing the ${volume.format.fsType} filesystem of ${name} while it stays in use` });
  const growth = await deps.host.growMounted(record.device, record.mountpoint, volume.format.fsType);
  if (growth === 'not-permitted') {
    return {
      growth: 'at-next-mount',
      message:
        `volume ${name} is ${sizeGiB} GiB now, but its ext4 filesystem cannot grow while mounted: berth lacks the capability CAP_SYS_RESOURCE ` +
        `(see the README's "Day two"); it grows when the volume is next mounted (stop and start its containers)`,
    };
  }
  const how = growth === 'grown' ? 'its filesystem was grown online' : 'its filesystem fills it already';
  return { growth: 'grown', message: `volume ${name} is ${sizeGiB} GiB and ${how}: containers see the new size now` };
}
