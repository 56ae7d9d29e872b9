/**
 * The day-two operations the admin door offers (volumes/operations.ts, AdminOperations): each reads EC2 afresh and
 * works under the volume's lock, so it never races Docker's calls for the same name; the parts are modify-volume.ts,
 * release-holder.ts and snapshot-volume.ts.
 */
import type { CloudVolume } from '../cloud/types';
import { BerthError } from '../common/errors';
import type { AdministrationDeps } from './administration-deps';
import { adminView, snapshotView } from './admin-views';
import { currentVolume } from './current-volume';
import type { ReleaseDeps } from './deps';
import { modifyVolume } from './modify-volume';
import { parseChange } from './modify-rules';
import { validateVolumeName } from './names';
import type { AdminOperations, AdminSnapshot, AdminVolume, ModifyResult, ProgressListener, ReleaseResult, VolumeChange } from './operations';
import { releaseHolder } from './release-holder';
import { checkSnapshotId, checkSnapshotTags, snapshotVolume } from './snapshot-volume';

export interface AdministrationParts extends ReleaseDeps {
  underLock<T>(name: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Names the service hides (a create that failed and is being deleted). */
  hidden(name: string): boolean;
}

export class VolumeAdministration implements AdminOperations {
  private readonly deps: AdministrationDeps;

  constructor(private readonly parts: AdministrationParts) {
    this.deps = { ...parts, lookUp: (name, signal) => this.lookUp(name, signal) };
  }

  /** What the day-two operations work with (the cluster operations share it). */
  sharedDeps(): AdministrationDeps & Pick<AdministrationParts, 'hidden'> {
    return { ...this.deps, hidden: this.parts.hidden };
  }

  async volumes(): Promise<AdminVolume[]> {
    const { volumes } = await this.parts.catalog.list();
    return volumes.filter((volume) => !this.parts.hidden(volume.name)).map((volume) => adminView(volume, this.parts));
  }

  async inspect(name: string): Promise<AdminVolume> {
    this.checkName(name);
    const volume = await this.lookUp(name);
    return adminView(volume, this.parts, await this.parts.cloud.latestModification(volume.volumeId));
  }

  async modify(name: string, change: VolumeChange, progress: ProgressListener, signal: AbortSignal): Promise<ModifyResult> {
    this.checkName(name);
    return modifyVolume(name, parseChange(change), this.deps, progress, signal);
  }

  async release(name: string, force: boolean, signal: AbortSignal): Promise<ReleaseResult> {
    this.checkName(name);
    return releaseHolder(name, force, this.deps, signal);
  }

  async createSnapshot(name: string, tags: Record<string, string>, progress: ProgressListener, signal: AbortSignal): Promise<AdminSnapshot> {
    this.checkName(name);
    return snapshotVolume(name, checkSnapshotTags(tags), this.deps, progress, signal);
  }

  async snapshots(volume?: string): Promise<AdminSnapshot[]> {
    if (volume !== undefined) this.checkName(volume);
    return (await this.parts.cloud.listSnapshots(volume)).map(snapshotView);
  }

  async removeSnapshot(snapshotId: string): Promise<void> {
    await this.parts.cloud.deleteSnapshot(checkSnapshotId(snapshotId));
    this.parts.logger.info('snapshot removed', { snapshotId });
  }

  private checkName(name: string): void {
    validateVolumeName(name, this.parts.config.tag);
    if (this.parts.hidden(name)) throw new BerthError('not-found', `volume ${name} not found`);
  }

  /** The volume as EC2 has it now (each day-two operation reads it afresh). */
  private async lookUp(name: string, signal?: AbortSignal): Promise<CloudVolume> {
    const volume = await currentVolume(name, this.parts, signal);
    if (!volume) throw new BerthError('not-found', `volume ${name} not found`);
    return volume;
  }
}
