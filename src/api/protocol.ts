/** The Docker volume plugin protocol as Docker speaks it: the content type, the routes and the volume it expects. */

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
