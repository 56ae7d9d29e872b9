/** What a new volume gets for the options left out: berth's own defaults and the host's (CreateDefaults). */
import type { CrossAZPolicy } from '../../cloud/types';
import type { FsType } from '../../common/filesystems';
import type { VolumeType } from './ec2-limits';

/** Per-host values that fill in options the user left out. */
export interface CreateDefaults {
  /** This instance's availability zone. */
  availabilityZone: string;
  /** The zones of this region, when known: a zone option must name one of them. */
  regionZones?: readonly string[];
  /** EBS_FSTYPE. */
  fsType: FsType;
  /** EBS_KMSKEYID, '' when unset. When set, every volume is encrypted: with this key unless kmsKeyId names another. */
  kmsKeyId: string;
  /** LINUX_VOLUME_FILEMODE, e.g. 0o755. */
  volumeFileMode: number;
}

export const DEFAULT_SIZE_GIB = 16;
export const DEFAULT_VOLUME_TYPE: VolumeType = 'gp3';
export const DEFAULT_CROSS_AZ: CrossAZPolicy = 'refuse';
