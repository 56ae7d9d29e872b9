/**
 * `berth doctor`'s checks of this machine: the device dir holds the block devices EBS volumes appear as (and how
 * they are named: NVMe on Nitro, xvd on Xen), and the mount root propagates berth's mounts to Docker.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { DoctorCheck } from '../common/checks';
import { errorMessage } from '../common/errors';
import { isShared, mountAt, readMountInfo } from './mountinfo';

const NVME_DISK = /^nvme\d+n\d+$/;
const XEN_DISK = /^(xvd|sd)[a-z]+$/;

export async function diagnoseHost(config: { deviceDir: string; mountRoot: string }, mountInfoFile?: string): Promise<DoctorCheck[]> {
  return [...(await deviceChecks(config.deviceDir)), await propagationCheck(config.mountRoot, mountInfoFile)];
}

async function blockDevices(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir);
  const found: string[] = [];
  for (const entry of entries) {
    const stat = await fsp.stat(path.join(dir, entry)).catch(() => undefined);
    if (stat?.isBlockDevice()) found.push(entry);
  }
  return found;
}

async function deviceChecks(deviceDir: string): Promise<DoctorCheck[]> {
  let devices: string[];
  try {
    devices = await blockDevices(deviceDir);
  } catch (err) {
    return [
      {
        name: 'device-dir',
        outcome: 'fail',
        detail: `EBS_DEVICEDIR ${deviceDir} cannot be read: ${errorMessage(err)}`,
        fix: 'Set EBS_DEVICEDIR to the directory attached volumes appear in (/dev), or leave it unset.',
      },
      { name: 'device-naming', outcome: 'skip', detail: 'needs the device dir' },
    ];
  }
  if (devices.length === 0) {
    // A host's /dev always holds its root disk: an empty device dir is a wrong one, unless nothing is attached yet
    // to an instance whose disks appear elsewhere.
    return [
      {
        name: 'device-dir',
        outcome: 'warn',
        detail: `EBS_DEVICEDIR ${deviceDir} holds no block devices now: attached volumes must appear there`,
        fix: 'Set EBS_DEVICEDIR to /dev (the managed plugin binds the host\'s /dev there), or leave it unset.',
      },
      { name: 'device-naming', outcome: 'skip', detail: 'no disks to look at' },
    ];
  }
  const nvme = devices.filter((name) => NVME_DISK.test(name));
  const xen = devices.filter((name) => XEN_DISK.test(name));
  const naming: DoctorCheck =
    nvme.length > 0
      ? { name: 'device-naming', outcome: 'pass', detail: `NVMe disks (Nitro): ${nvme.length}, found by their serial (the volume id)` }
      : xen.length > 0
        ? { name: 'device-naming', outcome: 'pass', detail: `xvd/sd disks (Xen): ${xen.length}, found by the device name berth asked for` }
        : { name: 'device-naming', outcome: 'warn', detail: `no NVMe or xvd disks among the ${devices.length} block devices in ${deviceDir}`, fix: 'Check that EBS_DEVICEDIR is where this instance\'s disks appear.' };
  return [{ name: 'device-dir', outcome: 'pass', detail: `${deviceDir}: ${devices.length} block devices` }, naming];
}

async function propagationCheck(mountRoot: string, mountInfoFile?: string): Promise<DoctorCheck> {
  const entry = mountAt(await readMountInfo(mountInfoFile), mountRoot);
  if (!entry) return { name: 'mount-propagation', outcome: 'skip', detail: `${mountRoot} is no mount of its own (legacy mode: berth mounts in the host's namespace)` };
  if (isShared(entry)) return { name: 'mount-propagation', outcome: 'pass', detail: `${mountRoot} is a shared mount: Docker sees what berth mounts there` };
  return {
    name: 'mount-propagation',
    outcome: 'fail',
    detail: `${mountRoot} is a mount without shared propagation: containers would get an empty directory instead of the volume`,
    fix: `In the managed plugin, reinstall it (Docker makes its propagated mount rshared); in legacy mode run mount --make-rshared ${mountRoot}.`,
  };
}
