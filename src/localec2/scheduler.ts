/**
 * Delayed state transitions (creating -> available, attaching -> attached, ...). A delay of 0 runs the
 * transition inline, before the call that started it answers: the answer still shows the first state, as
 * EC2's does, and the next Describe shows the final one. Delayed transitions run later under the same lock
 * as API calls, so no call ever sees half a transition.
 */
import type { Mutex } from 'async-mutex';

export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly lock: Mutex,
    private readonly onError: (what: string, err: unknown) => void,
  ) {}

  /** With ms <= 0 the caller must already hold the lock (it runs inline); otherwise it is taken when the timer fires. */
  async schedule(ms: number, what: string, task: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    if (ms <= 0) {
      try {
        await task();
      } catch (err) {
        this.onError(what, err);
      }
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.lock
        .runExclusive(async () => {
          if (!this.closed) await task();
        })
        .catch((err: unknown) => this.onError(what, err));
    }, ms);
    this.timers.add(timer);
  }

  /** Cancels pending transitions (they resume from the saved state at the next start) and waits for a running one. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.lock.runExclusive(async () => undefined);
  }
}
