/**
 * What every part of the EBS cloud is given: the EC2 client, this instance's identity, the settings it reads and
 * the logger; and the one way its status waits poll.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Config } from '../config';
import type { WaitOptions } from '../common/poll';
import { TransitionPace } from '../common/transition-pace';
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

/** The shortest and longest gaps between two status polls of one wait (common/transition-pace.ts plans them). */
export const POLL_FLOOR_MS = 100;
export const POLL_MAX_GAP_MS = 2_000;

export function transitionPace(config: CloudConfig): TransitionPace {
  return new TransitionPace({ initialDelayMs: config.statusInitialDelayMs, floorMs: POLL_FLOOR_MS, maxDelayMs: POLL_MAX_GAP_MS });
}

/** The bounds of a status wait: the configured number of polls, the time given, the caller's signal. */
export function statusWait(config: CloudConfig, what: string, timeoutMs: number, signal?: AbortSignal): Omit<WaitOptions, 'schedule' | 'startedAt'> {
  return { what, initialDelayMs: config.statusInitialDelayMs, maxAttempts: config.statusMaxAttempts, timeoutMs, signal };
}
