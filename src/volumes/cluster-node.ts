/**
 * A cluster volume's node side (the CSI plugin where the task runs): stage (find the attached device, make its
 * filesystem only on a volume berth created empty, check, grow, mount it at the staging path) and publish (bind its
 * data directory at the task's target). Swarm never calls NodeUnstageVolume, so the last unpublish of a volume on
 * this node unstages it too; which publishes remain is read from the mount table, so a restart loses nothing.
 */
import path from 'node:path';
import { BerthError } from '../common/errors';
import type { AdministrationDeps } from './administration-deps';
import { mountFilesystem } from './mount-steps';

function contextField(context: Record<string, string>, key: string): string {
  const value = context[key];
  if (!value) throw new BerthError('invalid-option', `the publish context has no ${key}: was the volume published to this node by berth's controller?`);
  return value;
}

export class ClusterNode {
  constructor(private readonly deps: AdministrationDeps) {}

  private dataDir(stagingPath: string): string {
    return path.join(stagingPath, this.deps.config.volumeRootPath);
  }

  async stage(name: string, context: Record<string, string>, stagingPath: string, signal: AbortSignal): Promise<void> {
    const { host, logger } = this.deps;
    const volumeId = contextField(context, 'volumeId');
    await this.deps.underLock(name, async () => {
      const volume = await this.deps.lookUp(name, signal);
      if (volume.volumeId !== volumeId) {
        throw new BerthError('in-use', `volume ${name} is ${volume.volumeId} now, not ${volumeId} as published (it moved): publish it again`);
      }
      const device = await host.findDevice(volumeId, contextField(context, 'device'), signal);
      if ((await host.mountedSource(stagingPath)) !== undefined) {
        await host.mount(device, stagingPath, volume.format.fsType);
        return;
      }
      let mounted = false;
      try {
        const { fsType } = await mountFilesystem(volume, device, stagingPath, this.dataDir(stagingPath), signal, this.deps, { mounted: () => (mounted = true) });
        logger.info('cluster volume staged', { volume: name, volumeId, device, stagingPath, fsType });
      } catch (err) {
        if (mounted) await host.unmount(stagingPath);
        throw err;
      }
    }, signal);
  }

  async unstage(name: string, stagingPath: string): Promise<void> {
    await this.deps.underLock(name, () => this.deps.host.unmount(stagingPath));
  }

  async publish(name: string, stagingPath: string, targetPath: string, readonly: boolean): Promise<void> {
    await this.deps.underLock(name, async () => {
      if (!(await this.deps.host.mountedSource(stagingPath))) throw new BerthError('not-found', `volume ${name} is not staged at ${stagingPath} on this node`);
      await this.deps.host.bindMount(this.dataDir(stagingPath), targetPath, readonly);
      this.deps.logger.info('cluster volume published', { volume: name, targetPath, readonly });
    });
  }

  /** The last publish of a volume on this node takes its staging mount with it (Swarm never unstages). */
  async unpublish(name: string, targetPath: string): Promise<void> {
    const { host, logger } = this.deps;
    await this.deps.underLock(name, async () => {
      const device = await host.mountedSource(targetPath);
      await host.unmount(targetPath);
      await host.removeMountDir(targetPath);
      if (!device) return;
      const left = await host.mountTargets(device).catch(() => []);
      if (left.length === 1) {
        await host.unmount(left[0]);
        logger.info('cluster volume unstaged after its last publish here', { volume: name, stagingPath: left[0] });
      }
    });
  }
}
