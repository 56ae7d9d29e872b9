/**
 * How many data volumes an instance type can take. Nitro types share 28 attachment slots among EBS
 * volumes (the root volume included), network interfaces and NVMe instance store; 7th-generation types
 * have a dedicated EBS limit; Xen types support 40 including the root volume. The simulated instance has
 * its root volume and one network interface, so a Nitro m5.large takes 26 data volumes.
 */
interface TypeInfo {
  hypervisor: 'nitro' | 'xen';
  /** Attachment slots, the root volume included. */
  slots: number;
  /** Slots also used by network interfaces (shared limit). */
  sharedWithEni: boolean;
  instanceStoreNvme?: number;
}

const NITRO_SHARED: TypeInfo = { hypervisor: 'nitro', slots: 28, sharedWithEni: true };
const XEN: TypeInfo = { hypervisor: 'xen', slots: 40, sharedWithEni: false };

const KNOWN: Record<string, TypeInfo> = {
  't3.micro': NITRO_SHARED,
  't3.medium': NITRO_SHARED,
  'm5.large': NITRO_SHARED,
  'm5.xlarge': NITRO_SHARED,
  'c5.xlarge': NITRO_SHARED,
  'r5.large': NITRO_SHARED,
  'm6i.large': NITRO_SHARED,
  'm5d.large': { ...NITRO_SHARED, instanceStoreNvme: 1 },
  'm7i.large': { hypervisor: 'nitro', slots: 32, sharedWithEni: false },
  't2.micro': XEN,
  'm4.large': XEN,
  'c4.xlarge': XEN,
};

const XEN_FAMILIES = ['t1', 't2', 'm1', 'm2', 'm3', 'm4', 'c1', 'c3', 'c4', 'r3', 'r4', 'i2', 'i3', 'd2', 'x1', 'p2', 'p3', 'g3', 'h1'];

export function instanceTypeInfo(instanceType: string): TypeInfo {
  const known = KNOWN[instanceType];
  if (known) return known;
  return XEN_FAMILIES.includes(instanceType.split('.')[0]) ? XEN : NITRO_SHARED;
}

/** Data volumes (besides the root volume) the instance can have attached at once. */
export function dataVolumeLimit(instanceType: string): number {
  const info = instanceTypeInfo(instanceType);
  return info.slots - 1 - (info.sharedWithEni ? 1 : 0) - (info.instanceStoreNvme ?? 0);
}
