import { DeviceAllocator, LIKELY_BAD_MS, canonicalDeviceName, deviceNames } from '../../src/cloud/devices';
import { BerthError } from '../../src/common/errors';

const none = async () => [] as string[];

describe('device names', () => {
  it('lists xvdf..xvdz, then xvdaa..xvdaz, then xvdba..xvdbz', () => {
    const names = deviceNames(false);
    expect(names).toHaveLength(21 + 26 + 26);
    expect(names.slice(0, 2)).toEqual(['/dev/xvdf', '/dev/xvdg']);
    expect(names[20]).toBe('/dev/xvdz');
    expect(names[21]).toBe('/dev/xvdaa');
    expect(names[names.length - 1]).toBe('/dev/xvdbz');
    expect(names).not.toContain('/dev/xvda');
    expect(names.some((name) => name.startsWith('/dev/sd'))).toBe(false);
    expect(new Set(names).size).toBe(names.length);
  });

  it('adds xvdca..xvdcz with the large range', () => {
    const names = deviceNames(true);
    expect(names).toHaveLength(21 + 26 * 3);
    expect(names[names.length - 1]).toBe('/dev/xvdcz');
  });

  it('treats /dev/sdX and partitions as the xvd slot', () => {
    expect(canonicalDeviceName('/dev/sdf')).toBe('/dev/xvdf');
    expect(canonicalDeviceName('/dev/sda1')).toBe('/dev/xvda');
    expect(canonicalDeviceName('xvdba')).toBe('/dev/xvdba');
  });
});

describe('DeviceAllocator', () => {
  it('skips names in use on the instance, including their /dev/sd spelling', async () => {
    const allocator = new DeviceAllocator({ useLargeDeviceRange: false });
    const name = await allocator.allocate('vol-1', async () => ['/dev/xvda', '/dev/sdf', '/dev/xvdg']);
    expect(name).toBe('/dev/xvdh');
  });

  it('gives 20 parallel allocations 20 distinct names', async () => {
    const allocator = new DeviceAllocator({ useLargeDeviceRange: false });
    let lookups = 0;
    const inUse = async () => {
      lookups++;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      return ['/dev/xvda'];
    };
    const names = await Promise.all(Array.from({ length: 20 }, (_, i) => allocator.allocate(`vol-${i}`, inUse)));
    expect(new Set(names).size).toBe(20);
    expect(lookups).toBe(20);
  });

  it('frees a name on release and reuses it', async () => {
    const allocator = new DeviceAllocator({ useLargeDeviceRange: false });
    const first = await allocator.allocate('vol-1', none);
    expect(await allocator.allocate('vol-2', none)).not.toBe(first);
    allocator.release('vol-1');
    expect(await allocator.allocate('vol-3', none)).toBe(first);
  });

  it('avoids a likely-bad name for an hour', async () => {
    let now = 1_000_000;
    const allocator = new DeviceAllocator({ useLargeDeviceRange: false, now: () => now });
    allocator.markLikelyBad('/dev/xvdf');
    expect(await allocator.allocate('vol-1', none)).toBe('/dev/xvdg');
    allocator.release('vol-1');
    now += LIKELY_BAD_MS + 1;
    expect(await allocator.allocate('vol-1', none)).toBe('/dev/xvdf');
  });

  it('reports capacity when every name is taken', async () => {
    const allocator = new DeviceAllocator({ useLargeDeviceRange: false });
    const err = await allocator.allocate('vol-x', async () => deviceNames(false)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('capacity');
    expect((err as Error).message).toMatch(/no free device name/);
  });
});
