/**
 * What every part of the EBS cloud is given: the EC2 client, this instance's identity, the settings it reads and
 * the logger; and the one way its status waits poll.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Config } from '../config';
import type { WaitOptions } from '../common/poll';
import type { Logger } from '../log';
import type { ClientConfig } from './client';
import type { InstanceIdentity } from './types';

export type CloudConfig = ClientConfig &
  Pick<Config, 'statusInitialDelayMs' | 'statusMaxAttempts' | 'statusTimeoutMs' | 'useLargeDeviceRange' | 'tag' | 'adoptRexray' | 'fsType'>;

export interface CloudContext {
  ec2: EC2Client;
  /** This instance. */
  identity: InstanceIdentity;
  config: CloudConfig;
  logger: Logger;
}

/**
 * Status polls come at most this share of the time waited so far apart, and at most POLL_PRECISION_FLOOR_MS apart
 * in the first second (common/poll.ts `precision`): a 2 s attach is noticed within about 0.2 s instead of up to 0.9 s,
 * for about 20 DescribeVolumes calls instead of 10 (fewer when several waits share a batch).
 */
export const POLL_PRECISION = 0.1;
export const POLL_PRECISION_FLOOR_MS = 100;

/** How a status wait polls EC2: the configured first delay and bound on polls, with POLL_PRECISION. */
export function statusWait(config: CloudConfig, what: string, timeoutMs: number, signal?: AbortSignal): WaitOptions {
  return {
    what,
    initialDelayMs: config.statusInitialDelayMs,
    maxAttempts: config.statusMaxAttempts,
    timeoutMs,
    signal,
    precision: POLL_PRECISION,
    precisionFloorMs: POLL_PRECISION_FLOOR_MS,
  };
}
