/**
 * The mkfs arguments a user may add with `-o mkfsOptions=...`: a small allow-list per filesystem, so a volume
 * option can never smuggle in -F/-f, a device, or a combination that makes mkfs fail at first mount.
 */
import type { FsType } from '../common/filesystems';

/** A refused mkfsOptions value; the message says what is allowed. */
export class MkfsOptionsError extends Error {
  override name = 'MkfsOptionsError';
}

export interface MkfsFlag {
  flag: string;
  /** What the flag takes, as shown to users. */
  takes: string;
  meaning: string;
  /** The canonical argument, or undefined when the value is not allowed. */
  accept(value: string): string | undefined;
}

const oneOf =
  (...allowed: string[]) =>
  (value: string): string | undefined =>
    allowed.includes(value) ? value : undefined;

const integerIn =
  (min: number, max: number) =>
  (value: string): string | undefined => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    return n >= min && n <= max ? String(n) : undefined;
  };

const powerOfTwoIn =
  (min: number, max: number) =>
  (value: string): string | undefined => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    return n >= min && n <= max && (n & (n - 1)) === 0 ? String(n) : undefined;
  };

/** xfs style `name=value` arguments. */
const subOption =
  (name: string, accept: (value: string) => string | undefined) =>
  (value: string): string | undefined => {
    if (!value.startsWith(`${name}=`)) return undefined;
    const accepted = accept(value.slice(name.length + 1));
    return accepted === undefined ? undefined : `${name}=${accepted}`;
  };

/** The only mkfs arguments a user may add; berth itself adds -F (ext4) or -f (xfs) and the device. */
export const MKFS_ALLOW_LIST: Readonly<Record<FsType, readonly MkfsFlag[]>> = Object.freeze({
  ext4: [
    { flag: '-b', takes: '1024|2048|4096', meaning: 'block size in bytes', accept: oneOf('1024', '2048', '4096') },
    { flag: '-I', takes: '128|256|512|1024', meaning: 'inode size in bytes', accept: oneOf('128', '256', '512', '1024') },
    { flag: '-i', takes: '1024..67108864', meaning: 'bytes per inode', accept: integerIn(1024, 67108864) },
    { flag: '-m', takes: '0..50', meaning: 'percent of blocks reserved for root', accept: integerIn(0, 50) },
  ],
  xfs: [
    {
      flag: '-b',
      takes: 'size=512..65536 (a power of two)',
      meaning: 'block size in bytes; 1024 or more unless crc=0; above 4096 needs Linux 6.12 to mount',
      accept: subOption('size', powerOfTwoIn(512, 65536)),
    },
    {
      flag: '-i',
      takes: 'size=256|512|1024|2048',
      meaning: 'inode size in bytes; 512 or more unless crc=0',
      accept: subOption('size', oneOf('256', '512', '1024', '2048')),
    },
    {
      flag: '-m',
      takes: 'crc=0|1',
      meaning: 'metadata checksums (crc=0 makes the deprecated V4 format, for very old kernels)',
      accept: subOption('crc', oneOf('0', '1')),
    },
  ],
});

export function describeMkfsAllowList(fsType: FsType): string {
  return MKFS_ALLOW_LIST[fsType].map((f) => `${f.flag} ${f.takes} (${f.meaning})`).join(', ');
}

/** Splits a mkfsOptions value into flag/value pairs and checks each against the allow-list of the filesystem. */
export function validateMkfsOptions(text: string, fsType: FsType): string[] {
  const tokens = text.split(/\s+/).filter(Boolean);
  const allowList = MKFS_ALLOW_LIST[fsType];
  const allowedText = `allowed for ${fsType}: ${describeMkfsAllowList(fsType)}`;
  const argv: string[] = [];
  const seen = new Map<string, string>();
  for (let i = 0; i < tokens.length; i += 2) {
    const flag = tokens[i];
    const entry = allowList.find((f) => f.flag === flag);
    if (!entry) throw new MkfsOptionsError(`${JSON.stringify(flag)} is not allowed; ${allowedText}`);
    const value = tokens[i + 1];
    if (value === undefined) throw new MkfsOptionsError(`${flag} needs a value: ${flag} ${entry.takes}`);
    const accepted = entry.accept(value);
    if (accepted === undefined) {
      throw new MkfsOptionsError(`"${flag} ${value}" is not allowed: for ${fsType}, ${flag} takes ${entry.takes}`);
    }
    if (seen.has(flag)) throw new MkfsOptionsError(`${flag} is given twice`);
    seen.set(flag, accepted);
    argv.push(flag, accepted);
  }
  checkMkfsCombination(fsType, seen);
  return argv;
}

/**
 * Combinations mkfs refuses (checked with mke2fs 1.47 and mkfs.xfs 6.1): refused here, at create, rather than at
 * first mount when the volume already exists. (-N, the inode count, is left out of the allow-list because its
 * limit depends on the size in ways mke2fs does not document; -i, which mke2fs clamps, serves the same need.)
 */
function checkMkfsCombination(fsType: FsType, args: Map<string, string>): void {
  if (fsType === 'ext4') {
    const inodeSize = Number(args.get('-I') ?? 256);
    const bytesPerInode = Number(args.get('-i') ?? Infinity);
    if (bytesPerInode <= inodeSize) {
      throw new MkfsOptionsError(`-i ${bytesPerInode} must be larger than the inode size ${inodeSize}: inode tables would fill the disk`);
    }
    return;
  }
  const crc = args.get('-m') !== 'crc=0';
  const blockSize = Number(args.get('-b')?.slice('size='.length) ?? 4096);
  const inodeSize = Number(args.get('-i')?.slice('size='.length) ?? (crc ? 512 : 256));
  if (crc && blockSize < 1024) throw new MkfsOptionsError('xfs with checksums (crc=1, the default) needs -b size=1024 or more');
  if (crc && inodeSize < 512) throw new MkfsOptionsError('xfs with checksums (crc=1, the default) needs -i size=512 or more');
  if (inodeSize > blockSize / 2) {
    throw new MkfsOptionsError(`xfs inode size ${inodeSize} must be at most half the block size ${blockSize}`);
  }
}
