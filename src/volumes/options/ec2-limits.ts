/**
 * What EC2 accepts for a new volume, as far as berth checks it before the call: the volume types and the documented
 * limits that do not change. Maxima that AWS raises from time to time (IOPS, throughput, per-type sizes) are left
 * to EC2, whose InvalidParameter* errors the cloud layer maps back to options.
 */

export const VOLUME_TYPES = ['gp3', 'gp2', 'io1', 'io2', 'st1', 'sc1', 'standard'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

export const MAX_SIZE_GIB = 65536;
export const MIN_SIZE_GIB: Partial<Record<VolumeType, number>> = { st1: 125, sc1: 125, io1: 4, io2: 4 };

/** The types that take iops or throughput, each with its minimum. */
export const MIN_IOPS: Partial<Record<VolumeType, number>> = { gp3: 3000, io1: 100, io2: 100 };
export const IOPS_REQUIRED: readonly VolumeType[] = ['io1', 'io2'];
export const MIN_THROUGHPUT: Partial<Record<VolumeType, number>> = { gp3: 125 };

/** EC2's API integers are 32-bit: anything larger is a typo, not a request. */
export const MAX_API_INTEGER = 2 ** 31 - 1;

/** EC2 allows 50 tags per volume; the rest are kept for Name and berth's own tags. */
export const MAX_USER_TAGS = 40;
