/** What a handler of a CSI method gets, and what it is: decode the request, call ClusterOperations, encode. */
import type { ClusterOperations } from '../volumes/operations';
import type { Message } from './fields';

export interface CsiCall {
  request: Message;
  /** Aborts when the caller cancels, its deadline passes, or berth shuts down. */
  signal: AbortSignal;
  /** Waits a little for the volume service, then fails 'not-ready'. */
  operations(): Promise<ClusterOperations>;
}

export type CsiHandler = (call: CsiCall) => Promise<Message>;

/** A service's handlers by method name, as the spec spells them. */
export type CsiHandlers = Record<string, CsiHandler>;
