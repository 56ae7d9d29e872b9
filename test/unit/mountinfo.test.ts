import { isShared, mountAt, mountsUnder, parseMountInfo, unescapeMountField } from '../../src/host/mountinfo';

const TABLE = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard',
  '120 27 7:3 / /var/lib/libstorage/volumes/db rw,relatime shared:210 - ext4 /dev/loop3 rw',
  '121 27 7:3 /data /var/lib/docker/plugins/abc/propagated-mount/db/data rw,relatime master:210 - ext4 /dev/loop3 rw',
  '130 27 259:1 / /var/lib/libstorage/volumes/my\\040vol\\011tab rw,relatime shared:220 - xfs /dev/nvme1n1 rw,nouuid',
  '131 27 7:5 / /var/lib/libstorage/volumes-other rw - ext4 /dev/loop5 rw',
  '140 120 7:4 / /var/lib/libstorage/volumes/db rw,relatime - ext4 /dev/loop4 rw',
  '150 27 0:50 / /mnt/back\\134slash rw - tmpfs weird\\040source rw',
  'garbage line without separator',
  '',
].join('\n');

describe('mountinfo', () => {
  const entries = parseMountInfo(TABLE);

  it('parses every well-formed line and skips the rest', () => {
    expect(entries).toHaveLength(8);
    expect(entries[1]).toEqual({
      mountId: 27,
      parentId: 1,
      major: 254,
      minor: 0,
      root: '/',
      mountPoint: '/',
      mountOptions: 'rw,relatime',
      optionalFields: ['shared:1'],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: 'rw,discard',
    });
    expect(entries[0].optionalFields).toEqual([]);
  });

  it('decodes octal escapes in paths and sources', () => {
    expect(unescapeMountField('a\\040b\\011c\\012d\\134e')).toBe('a b\tc\nd\\e');
    expect(entries[4].mountPoint).toBe('/var/lib/libstorage/volumes/my vol\ttab');
    expect(entries[7].mountPoint).toBe('/mnt/back\\slash');
    expect(entries[7].source).toBe('weird source');
    expect(entries[3].root).toBe('/data');
  });

  it('finds the mount visible at a target: the last one stacked there', () => {
    expect(mountAt(entries, '/var/lib/libstorage/volumes/db')?.source).toBe('/dev/loop4');
    expect(mountAt(entries, '/var/lib/libstorage/volumes/db/')?.source).toBe('/dev/loop4');
    expect(mountAt(entries, '/var/lib/libstorage/volumes/my vol\ttab')?.source).toBe('/dev/nvme1n1');
    expect(mountAt(entries, '/var/lib/libstorage/volumes/none')).toBeUndefined();
  });

  it('lists mounts under a directory, not the directory itself nor its name-prefixed siblings', () => {
    expect(mountsUnder(entries, '/var/lib/libstorage/volumes').map((entry) => entry.mountId)).toEqual([120, 130, 140]);
    expect(mountsUnder(entries, '/var/lib/libstorage/volumes/db')).toEqual([]);
    expect(mountsUnder(entries, '/').length).toBe(7);
  });

  it('tells shared mounts from others', () => {
    expect(isShared(entries[2])).toBe(true);
    expect(isShared(entries[3])).toBe(false);
    expect(isShared(entries[6])).toBe(false);
  });
});
