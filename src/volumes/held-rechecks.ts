/**
 * Volumes whose last user is gone but whose device something else on this machine still held when berth released
 * them. After a crash-restart that is typically a child of the killed daemon, orphaned mid-Mount: mkfs and e2fsck
 * keep an exclusive open of the device until they end (a SIGKILL does not reach them), and mount(8) holds it while
 * it runs. Such a holder goes away by itself, so the release is tried again, with backoff bounded at
 * LONGEST_RECHECK_MS, until the volume is detached, a Mount takes it again, or berth stops.
 */
const FIRST_RECHECK_MS = 500;
const LONGEST_RECHECK_MS = 30_000;

export class HeldRechecks {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; delayMs: number }>();
  private stopped = false;

  /** `onDue` takes the volume's lock and releases it if still unused (then reports back through schedule or done). */
  constructor(private readonly onDue: (name: string) => void) {}

  /** Checks again later, each time twice as late as the last (bounded). Returns the delay. */
  schedule(name: string): number {
    const previous = this.timers.get(name);
    clearTimeout(previous?.timer);
    const delayMs = previous ? Math.min(previous.delayMs * 2, LONGEST_RECHECK_MS) : FIRST_RECHECK_MS;
    if (this.stopped) return delayMs;
    const timer = setTimeout(() => this.onDue(name), delayMs);
    timer.unref();
    this.timers.set(name, { timer, delayMs });
    return delayMs;
  }

  /** Released, mounted again or removed: no more checks, and the next hold starts the backoff afresh. */
  done(name: string): void {
    clearTimeout(this.timers.get(name)?.timer);
    this.timers.delete(name);
  }

  stop(): void {
    this.stopped = true;
    for (const name of [...this.timers.keys()]) this.done(name);
  }
}
