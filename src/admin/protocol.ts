/**
 * The admin API's wire format, shared by the daemon's admin door (src/admin/) and the CLI (src/client/): HTTP over
 * a unix socket (mode 0600, root only), JSON bodies. The answers' shapes are the volume service's own
 * (volumes/operations.ts), re-exported here.
 *
 * Every answer is a stream of JSON lines (Content-Type application/x-ndjson): zero or more `{"progress": …}` lines
 * while the daemon waits (EC2 modifying a volume, a snapshot copying), then exactly one final line, `{"result": …}`
 * or `{"error": …}`. A call that fails before its first progress line also gets an HTTP status that says so.
 */
import type { ProgressEvent } from '../volumes/operations';

export const ADMIN_CONTENT_TYPE = 'application/x-ndjson';

/** Routes, relative to the socket's root. `:name` is a Docker volume name, `:id` a snapshot id, both URI-encoded. */
export const AdminRoutes = {
  /** GET: { volumes: AdminVolume[] } */
  volumes: '/v1/volumes',
  /** GET: AdminVolume (asks EC2 now, never the cache) */
  volume: '/v1/volumes/:name',
  /** POST VolumeChange: ModifyResult (progress while EC2 modifies, then while the filesystem grows) */
  modify: '/v1/volumes/:name/modify',
  /** POST { force?: boolean }: ReleaseResult */
  release: '/v1/volumes/:name/release',
  /** POST { tags?: Record<string,string> }: AdminSnapshot, once completed (progress with EC2's percent) */
  createSnapshot: '/v1/volumes/:name/snapshots',
  /** GET [?volume=NAME]: { snapshots: AdminSnapshot[] } (only snapshots berth made in this namespace) */
  snapshots: '/v1/snapshots',
  /** DELETE: { deleted: string } */
  snapshot: '/v1/snapshots/:id',
  /** GET: DoctorReport */
  doctor: '/v1/doctor',
} as const;

/** The longest request body the admin door reads. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

export type {
  AdminModification,
  AdminSnapshot,
  AdminVolume,
  CheckOutcome,
  DoctorCheck,
  DoctorReport,
  FilesystemGrowth,
  ModifyResult,
  ProgressEvent,
  ReleaseResult,
  VolumeChange,
} from '../volumes/operations';

/** Error kinds are the daemon's error codes (src/common/errors.ts). `field` is set for a bad request field. */
export interface AdminError {
  kind: string;
  message: string;
  field?: string;
}

export type AdminLine = { progress: ProgressEvent } | { result: unknown } | { error: AdminError };

/** The admin socket beside a plugin socket: /run/docker/plugins/berth.sock → /run/docker/plugins/berth-admin.sock. */
export function adminSocketBeside(pluginSocket: string): string {
  const slash = pluginSocket.lastIndexOf('/');
  const dir = pluginSocket.slice(0, slash + 1);
  const base = pluginSocket.slice(slash + 1).replace(/\.sock$/, '');
  return `${dir}${base}-admin.sock`;
}
