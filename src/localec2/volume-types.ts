/**
 * EBS volume types and AWS's current limits (gp3 since September 2025: 64 TiB, 80,000 IOPS, 2,000 MiB/s),
 * checked the way CreateVolume and ModifyVolume check them, with EC2-like messages naming the parameter.
 */
import { invalidParameterCombination, invalidParameterValue, missingParameter } from './ec2-error';

interface IopsLimits {
  min: number;
  max: number;
  /** Most IOPS per GiB of size. */
  perGiB: number;
  /** gp3: a volume of any size gets this many (above it the per-GiB ratio applies). */
  baseline?: number;
  required: boolean;
}

interface ThroughputLimits {
  min: number;
  max: number;
  baseline: number;
  /** Most MiB/s per provisioned IOPS. */
  perIops: number;
}

interface TypeLimits {
  minSize: number;
  maxSize: number;
  iops?: IopsLimits;
  throughput?: ThroughputLimits;
}

const LIMITS: Record<string, TypeLimits> = {
  gp3: {
    minSize: 1,
    maxSize: 65536,
    iops: { min: 3000, max: 80000, perGiB: 500, baseline: 3000, required: false },
    throughput: { min: 125, max: 2000, baseline: 125, perIops: 0.25 },
  },
  gp2: { minSize: 1, maxSize: 16384 },
  io1: { minSize: 4, maxSize: 16384, iops: { min: 100, max: 64000, perGiB: 50, required: true } },
  io2: { minSize: 4, maxSize: 65536, iops: { min: 100, max: 256000, perGiB: 1000, required: true } },
  st1: { minSize: 125, maxSize: 16384 },
  sc1: { minSize: 125, maxSize: 16384 },
  standard: { minSize: 1, maxSize: 1024 },
};

export const VOLUME_TYPES = Object.keys(LIMITS);
/** CreateVolume's default when VolumeType is not given. */
export const DEFAULT_VOLUME_TYPE = 'gp2';

export interface VolumeSpec {
  volumeType: string;
  sizeGiB: number;
  iops?: number;
  throughput?: number;
}

function ratio(value: number): string {
  return value.toFixed(6);
}

/** gp2's IOPS are not provisioned but EC2 reports its baseline: 3 per GiB, 100 to 16,000. */
function gp2Iops(sizeGiB: number): number {
  return Math.min(16000, Math.max(100, 3 * sizeGiB));
}

export function checkVolumeType(volumeType: string): TypeLimits {
  const limits = LIMITS[volumeType];
  if (!limits) {
    throw invalidParameterValue(`Value (${volumeType}) for parameter volumeType is invalid. Valid volume types are: ${VOLUME_TYPES.join(', ')}.`);
  }
  return limits;
}

export function checkSize(volumeType: string, sizeGiB: number): void {
  const limits = checkVolumeType(volumeType);
  if (sizeGiB < limits.minSize) {
    throw invalidParameterValue(`Volume of ${sizeGiB}GiB is too small for volume type ${volumeType}; minimum is ${limits.minSize}GiB (parameter size).`);
  }
  if (sizeGiB > limits.maxSize) {
    throw invalidParameterValue(`Volume of ${sizeGiB}GiB is too large for volume type ${volumeType}; maximum is ${limits.maxSize}GiB (parameter size).`);
  }
}

/**
 * Validates a complete request (type, size, optional iops and throughput) and fills in what EC2 reports
 * for unspecified values (gp3 3000 IOPS and 125 MiB/s, gp2's baseline IOPS).
 */
export function resolveVolumeSpec(input: VolumeSpec): VolumeSpec {
  const { volumeType, sizeGiB } = input;
  const limits = checkVolumeType(volumeType);
  checkSize(volumeType, sizeGiB);
  let { iops, throughput } = input;

  if (!limits.iops) {
    if (iops !== undefined) throw invalidParameterCombination(`The parameter iops is not supported for ${volumeType} volumes.`);
  } else if (iops === undefined) {
    if (limits.iops.required) throw missingParameter('iops');
    iops = limits.iops.baseline;
  } else {
    const { min, max, perGiB, baseline } = limits.iops;
    if (iops < min || iops > max) {
      throw invalidParameterValue(`Value (${iops}) for parameter iops is invalid. Iops must be between ${min} and ${max} for ${volumeType} volumes.`);
    }
    const allowed = Math.max(baseline ?? 0, perGiB * sizeGiB);
    if (iops > allowed) {
      throw invalidParameterValue(`Iops to volume size ratio of ${ratio(iops / sizeGiB)} is too high; maximum is ${ratio(perGiB)} (parameter iops).`);
    }
  }

  if (!limits.throughput) {
    if (throughput !== undefined) {
      throw invalidParameterCombination(`The parameter throughput is not supported for ${volumeType} volumes.`);
    }
  } else if (throughput === undefined) {
    throughput = limits.throughput.baseline;
  } else {
    const { min, max, perIops } = limits.throughput;
    if (throughput < min || throughput > max) {
      throw invalidParameterValue(
        `Value (${throughput}) for parameter throughput is invalid. Throughput must be between ${min} and ${max} MiB/s for ${volumeType} volumes.`,
      );
    }
    const provisionedIops = iops ?? 0;
    if (throughput > min && throughput > provisionedIops * perIops) {
      throw invalidParameterValue(
        `Throughput to iops ratio of ${ratio(throughput / provisionedIops)} is too high; maximum is ${ratio(perIops)} MiBps per iops (parameter throughput).`,
      );
    }
  }

  if (volumeType === 'gp2') iops = gp2Iops(sizeGiB);
  return { volumeType, sizeGiB, iops, throughput };
}

