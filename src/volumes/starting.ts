/**
 * The driver while berth is still connecting to EC2 (at start, or while the metadata service is unreachable).
 * Docker calls Get for every volume it knows right after a restart and drops those answered with an error, so Get
 * and List answer from the state persisted by the last run, marked stale; everything else waits for berth, briefly.
 */
import path from 'node:path';
import type { Config } from '../config';
import { readCatalog } from './catalog';
import type { VolumeOperations, VolumeView } from './operations';
import { Refcounts } from './refcounts';
import { viewOf } from './views';

export class StartingDriver implements VolumeOperations {
  constructor(
    private readonly config: Pick<Config, 'stateDir' | 'mountRoot' | 'volumeRootPath'>,
    /** Resolves with the real driver once berth is ready, or rejects when the wait is over. */
    private readonly ready: () => Promise<VolumeOperations>,
  ) {}

  /** A volume known from the last run is answered at once; any other name waits (briefly) for berth to be ready. */
  async get(name: string): Promise<VolumeView | undefined> {
    const known = (await this.known()).find((volume) => volume.name === name);
    return known ?? (await this.ready()).get(name);
  }

  async list(): Promise<VolumeView[]> {
    const known = await this.known();
    return known.length > 0 ? known : (await this.ready()).list();
  }

  async create(name: string, opts: Record<string, string> | null) {
    return (await this.ready()).create(name, opts);
  }
  async remove(name: string) {
    return (await this.ready()).remove(name);
  }
  async mount(name: string, id: string, signal: AbortSignal) {
    return (await this.ready()).mount(name, id, signal);
  }
  async unmount(name: string, id: string) {
    return (await this.ready()).unmount(name, id);
  }
  async path(name: string) {
    const mounted = new Refcounts(path.join(this.config.stateDir, 'mounts.json')).get(name);
    return mounted ? path.join(mounted.mountpoint, this.config.volumeRootPath) : undefined;
  }

  private async known(): Promise<VolumeView[]> {
    const mounts = new Refcounts(path.join(this.config.stateDir, 'mounts.json'));
    return readCatalog(path.join(this.config.stateDir, 'volumes.json')).map((volume) => {
      const mounted = mounts.get(volume.name);
      return viewOf(volume, mounted ? path.join(mounted.mountpoint, this.config.volumeRootPath) : undefined, true);
    });
  }
}
