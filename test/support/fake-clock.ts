/**
 * The service's own waits (the linger after a short mount, the release wait, the background retries, the re-checks
 * of inherited users) run on timers and Date: unit tests fake both and move the clock on instead of sleeping. Its
 * state files are written with real I/O, which is given real time.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as realSleep } from 'node:timers/promises';

export const useFakeClock = () => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });

/**
 * Runs the fake clock from timer to timer while `work` is under way; while no timer is due, the work is doing real
 * I/O and is given real time instead. Resolves or rejects as `work` does.
 */
export async function advanceUntilSettled<T>(work: Promise<T>, realLimitMs = 10_000): Promise<T> {
  let settled = false;
  work.then(
    () => (settled = true),
    () => (settled = true),
  );
  const started = performance.now();
  while (!settled && performance.now() - started < realLimitMs) {
    if (jest.getTimerCount() > 0) await jest.advanceTimersToNextTimerAsync();
    else await realSleep(1);
  }
  return work;
}
