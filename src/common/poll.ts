/**
 * Polling with backoff, bounded three ways: a number of polls, a total time, and the caller's AbortSignal.
 * The first poll comes after `initialDelayMs`; each later delay grows by `factor` up to `maxDelayMs`, and with
 * `precision` it also stays within that share of the time waited so far (never below `initialDelayMs` or
 * `precisionFloorMs`), so a transition is noticed within about that share of its own duration: plain backoff by
 * 1.5 noticed a 2 s attach up to 0.9 s late.
 */
import { BerthError } from './errors';

export type PollResult<T> = { done: true; value: T } | { done: false; state: string };

export interface WaitOptions {
  /** What is awaited, for the error message: "vol-0abc to become available". */
  what: string;
  initialDelayMs: number;
  maxAttempts: number;
  timeoutMs: number;
  signal?: AbortSignal;
  factor?: number;
  maxDelayMs?: number;
  /** Longest delay between polls as a share of the time waited so far, e.g. 0.1 (default: none). */
  precision?: number;
  /** With precision: delays up to this long are always allowed (short waits need no finer polling). Default 0. */
  precisionFloorMs?: number;
  /** When what is awaited began (default: now); the time bound and `schedule` count from it. */
  startedAt?: number;
  /** Replaces the built-in backoff: the delay before the next poll, given the time since `startedAt` and the polls made. */
  schedule?: (elapsedMs: number, polls: number) => number;
}

export const DEFAULT_FACTOR = 1.5;
export const DEFAULT_MAX_DELAY_MS = 1000;

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

export class WaitTimeoutError extends BerthError {
  constructor(
    readonly what: string,
    readonly lastState: string,
    readonly reason: 'timeout' | 'attempts' | 'aborted',
    elapsedMs: number,
  ) {
    const why =
      reason === 'attempts' ? `gave up after the last of its polls` : reason === 'aborted' ? 'the caller\'s deadline passed' : 'time ran out';
    super('timeout', `timed out waiting for ${what} after ${(elapsedMs / 1000).toFixed(1)} s (${why}); last state seen: ${lastState}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Calls `poll` until it reports done, and returns its value. `poll` may throw to stop waiting with its
 * own error (e.g. a volume that entered the `error` state).
 */
export async function waitFor<T>(poll: () => Promise<PollResult<T>>, options: WaitOptions): Promise<T> {
  const factor = options.factor ?? DEFAULT_FACTOR;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const started = options.startedAt ?? Date.now();
  const deadline = started + options.timeoutMs;
  const planned = (polls: number) => Math.max(0, options.schedule?.(Date.now() - started, polls) ?? 0);
  let delay = options.schedule ? planned(0) : Math.max(0, options.initialDelayMs);
  let lastState = 'not polled yet';
  const giveUp = (reason: 'timeout' | 'attempts' | 'aborted') => new WaitTimeoutError(options.what, lastState, reason, Date.now() - started);

  for (let attempt = 1; attempt <= Math.max(1, options.maxAttempts); attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw giveUp('timeout');
    try {
      await sleep(Math.min(delay, remaining), options.signal);
    } catch {
      throw giveUp('aborted');
    }
    if (options.signal?.aborted) throw giveUp('aborted');
    const result = await poll();
    if (result.done) return result.value;
    lastState = result.state;
    if (options.schedule) {
      delay = planned(attempt);
      continue;
    }
    delay = Math.min(maxDelayMs, Math.max(1, delay) * factor);
    if (options.precision !== undefined) {
      const cap = Math.max(options.initialDelayMs, options.precisionFloorMs ?? 0, options.precision * (Date.now() - started));
      delay = Math.min(delay, cap);
    }
  }
  throw giveUp(Date.now() >= deadline ? 'timeout' : 'attempts');
}
