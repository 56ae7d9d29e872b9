/** What every EC2 action handler gets: the state, the simulator's settings and the request. */
import type { Logger } from '../../log';
import type { Faults } from '../faults';
import type { QueryParams } from '../query';
import type { Scheduler } from '../scheduler';
import type { LocalEc2State } from '../state';
import type { XmlObject } from '../xml';

/** Milliseconds each transition takes. */
export interface Delays {
  create: number;
  attach: number;
  detach: number;
  delete: number;
  modify: number;
  snapshot: number;
  /** An instance's pending -> running, stopping -> stopped and shutting-down -> terminated. */
  instance: number;
}

export const NO_DELAYS: Delays = { create: 0, attach: 0, detach: 0, delete: 0, modify: 0, snapshot: 0, instance: 0 };

export interface Ctx {
  readonly state: LocalEc2State;
  readonly dataDir: string;
  readonly accountId: string;
  readonly delays: Delays;
  readonly faults: Faults;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** Persists the state; call after every change. */
  commit(): void;
}

export interface ActionRequest {
  params: QueryParams;
  /** From the request's SigV4 credential scope. */
  region: string;
  requestId: string;
  dryRun: boolean;
}

export interface Action {
  /** Top-level parameter names the action accepts (besides Action, Version, DryRun). */
  params: readonly string[];
  handle(ctx: Ctx, request: ActionRequest): Promise<XmlObject>;
}

export function nowIso(): string {
  return new Date().toISOString();
}
