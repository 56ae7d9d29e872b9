/** The Docker volume plugin protocol: routes, bodies, and the driver it calls. See shared reference. */

export const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export const Routes = {
  activate: '/Plugin.Activate',
  create: '/VolumeDriver.Create',
  remove: '/VolumeDriver.Remove',
  mount: '/VolumeDriver.Mount',
  unmount: '/VolumeDriver.Unmount',
  path: '/VolumeDriver.Path',
  get: '/VolumeDriver.Get',
  list: '/VolumeDriver.List',
  capabilities: '/VolumeDriver.Capabilities',
} as const;

export interface VolumeInfo {
  Name: string;
  Mountpoint?: string;
  /** RFC 3339, or absent: Docker rejects "". */
  CreatedAt?: string;
  Status?: Record<string, unknown>;
}

export interface VolumeDriver {
  create(name: string, opts: Record<string, string> | null): Promise<void>;
  remove(name: string): Promise<void>;
  /** signal aborts when Docker hangs up; the driver rolls back what the call did. */
  mount(name: string, id: string, signal: AbortSignal): Promise<string>;
  unmount(name: string, id: string): Promise<void>;
  path(name: string): Promise<string | undefined>;
  get(name: string): Promise<VolumeInfo | undefined>;
  list(): Promise<VolumeInfo[]>;
}
