/** Resource ids shaped like EC2's (prefix + 17 hex digits), and the checks EC2 applies to ids it is given. */
import { randomBytes } from 'node:crypto';
import { Ec2Error } from './ec2-error';

function hex17(): string {
  return randomBytes(9).toString('hex').slice(0, 17);
}

export const newVolumeId = (): string => `vol-${hex17()}`;
export const newSnapshotId = (): string => `snap-${hex17()}`;
export const newInstanceId = (): string => `i-${hex17()}`;
export const newReservationId = (): string => `r-${hex17()}`;
export const newImageId = (): string => `ami-${hex17()}`;

const VOLUME_ID = /^vol-([0-9a-f]{8}|[0-9a-f]{17})$/;
const SNAPSHOT_ID = /^snap-([0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

export function isInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id);
}

export function checkVolumeId(id: string): string {
  if (!VOLUME_ID.test(id)) throw new Ec2Error('InvalidVolumeID.Malformed', `Invalid id: "${id}" (expecting "vol-...")`);
  return id;
}

export function checkSnapshotId(id: string): string {
  if (!SNAPSHOT_ID.test(id)) throw new Ec2Error('InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
  return id;
}

export function checkInstanceId(id: string): string {
  if (!INSTANCE_ID.test(id)) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}" (expecting "i-...")`);
  return id;
}

/** us-east-1a -> us-east-1 (standard zones only: region plus one letter). */
const ZONE = /^([a-z]{2}(?:-gov)?-[a-z]+-\d+)([a-z])$/;

export function isZoneName(zone: string): boolean {
  return ZONE.test(zone);
}

export function regionOfZone(zone: string): string {
  const match = ZONE.exec(zone);
  if (!match) throw new Error(`not an availability zone name: ${zone}`);
  return match[1];
}

/** us-east-1a -> use1-az1, eu-west-2c -> euw2-az3: the shape of EC2's zone ids. */
export function zoneIdOf(zone: string): string {
  const match = ZONE.exec(zone);
  if (!match) return zone;
  const [geo, ...rest] = match[1].split('-');
  const number = rest.pop();
  const short = geo + rest.map((word) => word[0]).join('') + number;
  return `${short}-az${match[2].charCodeAt(0) - 96}`;
}
