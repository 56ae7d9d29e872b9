/**
 * Bounded waiting for tests, benchmarks and the demo: poll until something shows up, or watch for a while that
 * something does not. Time is read from node:perf_hooks and slept with node:timers/promises, not the global timers,
 * so these bounds stay real in tests that fake timers and Date.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleepFor } from 'node:timers/promises';

type Falsy = false | 0 | '' | null | undefined;

export interface PollOptions {
  timeoutMs: number;
  /** Pause between probes. Default 200 ms. */
  intervalMs?: number;
  /** Keep polling when the probe throws (the last error is in the timeout's message). Default: the error ends the wait. */
  retryErrors?: boolean;
}

export class PollTimeoutError extends Error {
  override name = 'PollTimeoutError';
}

export function sleep(ms: number): Promise<void> {
  return sleepFor(ms);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Calls `probe` until it returns something truthy, and resolves with that; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, options: PollOptions): Promise<Exclude<T, Falsy>> {
  const { timeoutMs, intervalMs = 200, retryErrors = false } = options;
  const started = performance.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Exclude<T, Falsy>;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    const waited = performance.now() - started;
    if (waited >= timeoutMs) {
      const last = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new PollTimeoutError(`timed out after ${seconds(waited)} waiting for ${what}${last}`);
    }
    await sleep(Math.min(intervalMs, timeoutMs - waited));
  }
}

/**
 * Watches for `forMs` that the unwanted thing does not happen: `happened` returns something truthy (a description)
 * when it did, and the watch fails at once naming it. Resolves when the window passes quietly.
 */
export async function expectNothingFor<T>(what: string, happened: () => T | Promise<T>, options: { forMs: number; intervalMs?: number }): Promise<void> {
  const { forMs, intervalMs = 200 } = options;
  const started = performance.now();
  for (;;) {
    const seen = await happened();
    const watched = performance.now() - started;
    if (seen) throw new Error(`unwanted: ${what}, seen after ${seconds(watched)}: ${typeof seen === 'string' ? seen : JSON.stringify(seen)}`);
    if (watched >= forMs) return;
    await sleep(Math.min(intervalMs, forMs - watched));
  }
}
