/** The filesystems berth makes and mounts: shared by the volume options, the EC2 tags and the host's tools. */
export const FS_TYPES = ['ext4', 'xfs'] as const;
export type FsType = (typeof FS_TYPES)[number];
