/**
 * Keeps a flood of failing calls from flooding the log: of each kind of failure (method and error code), the first
 * few in a window are logged, the rest only counted, and the count rides on the next line logged of that kind.
 */
export interface Admission {
  log: boolean;
  /** Failures of this kind left out of the log since the last line logged of it. */
  suppressed: number;
}

export class ComplaintLimiter {
  private readonly windows = new Map<string, { startedAt: number; logged: number; suppressed: number }>();

  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  admit(kind: string): Admission {
    const now = this.now();
    let window = this.windows.get(kind);
    if (!window || now - window.startedAt >= this.windowMs) {
      window = { startedAt: now, logged: 0, suppressed: window?.suppressed ?? 0 };
      this.windows.set(kind, window);
    }
    if (window.logged >= this.perWindow) {
      window.suppressed += 1;
      return { log: false, suppressed: 0 };
    }
    window.logged += 1;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return { log: true, suppressed };
  }
}
