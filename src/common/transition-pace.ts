/**
 * How long each kind of EC2 transition (a volume being created, attached, detached; a snapshot completing) takes
 * for this host, learned from the waits it made, and status polls planned around that: the first poll when the
 * transition usually ends, close polls just after it, then backoff when it runs long. A lifecycle with EC2-like
 * delays polled 36 times with fixed fine-grained polling; paced, about one poll per transition.
 */
import { waitFor, type PollResult, type WaitOptions } from './poll';

export type TransitionKind = 'create' | 'attach' | 'detach' | 'snapshot';

export interface PaceLimits {
  /** The first poll of a transition never seen before. */
  initialDelayMs: number;
  /** The shortest gap between two polls after the first. */
  floorMs: number;
  /** The longest gap between two polls. */
  maxDelayMs: number;
}

/**
 * Transitions remembered per kind. The expectation is their median, so one slow wait does not move it, or the
 * latest when shorter: transitions that got faster are followed at once.
 */
const REMEMBERED = 3;
/**
 * A wait that ended at its first poll says only that the transition took at most that long: it is remembered as
 * shorter, by this factor once more for each such wait in a row, so that the expectation comes down to the true
 * duration (4 s to 1 s within about four waits) instead of staying wherever it was. A wait whose poll missed first
 * says the transition ended between two polls: the midpoint is remembered.
 */
const FIRST_POLL_SHRINK = 0.9;
/** The first poll comes this much after the expected end: a poll just before it would miss half the time. */
const FIRST_POLL_MARGIN = 1.05;
/** Gaps between polls near the expected end, as a share of the expectation. */
const NEAR_GAP_SHARE = 0.1;
/** Past this multiple of the expectation (or with none) polls back off, each gap this share of the time waited. */
const LATE_AFTER = 1.5;
const LATE_GAP_SHARE = 0.5;
/**
 * While several waits are under way, a poll joins one another wait planned up to this share of its delay sooner,
 * or later (at least ALIGN_MS later), so that they meet in one DescribeVolumes (cloud/batcher.ts) instead of each
 * making its own: 25 detaches at once took 34 calls unjoined.
 */
const JOIN_SOONER_SHARE = 0.25;
const JOIN_LATER_SHARE = 0.5;
export const ALIGN_MS = 100;
/**
 * While the transition is watched another way (the device appearing or leaving), polls are at least this far
 * apart: EC2's word then only matters if the watch missed it, and a swarm move's attach and detach took two polls
 * each at a second apart.
 */
const FALLBACK_GAP_MS = 2_000;

interface Seen {
  /** Oldest first. */
  durations: number[];
  firstPollsInARow: number;
}

export class TransitionPace {
  private readonly seen = new Map<TransitionKind, Seen>();
  /** Waits under way, of every kind. */
  private waiting = 0;
  /** When the waits under way will poll next (ms since the epoch). */
  private readonly pollsPlanned = new Set<number>();

  constructor(private readonly limits: PaceLimits) {}

  /** The usual duration of `kind` here, in ms; undefined before one was seen. */
  expectedMs(kind: TransitionKind): number | undefined {
    const durations = this.seen.get(kind)?.durations;
    if (!durations || durations.length === 0) return undefined;
    const sorted = [...durations].sort((a, b) => a - b);
    return Math.min(sorted[Math.floor(sorted.length / 2)], durations[durations.length - 1]);
  }

  /**
   * The delay before the next poll of a `kind` transition under way for `elapsedMs`, after `polls` polls. With
   * `fallback` (the transition is also watched another way) the first poll waits until it is overdue.
   */
  nextDelayMs(kind: TransitionKind, elapsedMs: number, polls: number, fallback = false): number {
    const planned = this.plannedDelayMs(kind, elapsedMs, polls, fallback);
    return fallback ? Math.max(planned, FALLBACK_GAP_MS - (polls === 0 ? elapsedMs : 0)) : planned;
  }

  private plannedDelayMs(kind: TransitionKind, elapsedMs: number, polls: number, fallback: boolean): number {
    const { initialDelayMs, floorMs, maxDelayMs } = this.limits;
    const expected = this.expectedMs(kind);
    if (polls === 0) return expected === undefined ? initialDelayMs : Math.max(0, expected * (fallback ? LATE_AFTER : FIRST_POLL_MARGIN) - elapsedMs);
    if (expected !== undefined && elapsedMs < expected * LATE_AFTER) return Math.min(maxDelayMs, Math.max(floorMs, expected * NEAR_GAP_SHARE));
    return Math.min(maxDelayMs, Math.max(floorMs, elapsedMs * LATE_GAP_SHARE));
  }

  /**
   * A transition of `kind` was seen done `elapsedMs` after it began: by the first poll, after a poll that found it
   * still under way `missedAtMs` after it began, or (neither) as it happened.
   */
  record(kind: TransitionKind, elapsedMs: number, seen: { firstPoll?: boolean; missedAtMs?: number } = {}): void {
    const known = this.seen.get(kind) ?? { durations: [], firstPollsInARow: 0 };
    known.firstPollsInARow = seen.firstPoll ? known.firstPollsInARow + 1 : 0;
    const duration =
      seen.missedAtMs !== undefined ? (seen.missedAtMs + elapsedMs) / 2 : elapsedMs * FIRST_POLL_SHRINK ** known.firstPollsInARow;
    known.durations.push(Math.max(0, duration));
    if (known.durations.length > REMEMBERED) known.durations.shift();
    this.seen.set(kind, known);
  }

  /**
   * `waitFor` with polls paced for `kind`, counted from `startedAt` (when the request that began the transition
   * was sent); a wait that ends done teaches the pace.
   */
  async wait<T>(
    kind: TransitionKind,
    startedAt: number,
    poll: () => Promise<PollResult<T>>,
    options: Omit<WaitOptions, 'schedule' | 'startedAt'>,
    { fallback = false }: { fallback?: boolean } = {},
  ): Promise<T> {
    let polls = 0;
    let missedAtMs: number | undefined;
    this.waiting++;
    try {
      const value = await waitFor<T>(
        async () => {
          polls++;
          const askedAtMs = Date.now() - startedAt;
          const result = await poll();
          if (!result.done) missedAtMs = askedAtMs;
          return result;
        },
        { ...options, startedAt, schedule: (elapsedMs, made) => this.aligned(this.nextDelayMs(kind, elapsedMs, made, fallback)) },
      );
      this.record(kind, Date.now() - startedAt, { firstPoll: polls === 1, missedAtMs });
      return value;
    } finally {
      this.waiting--;
    }
  }

  /**
   * While other waits are under way too, a poll planned by one of them within a share of this delay (a little
   * sooner, or later) is joined instead: waits whose gaps are alike then poll at the same instants.
   */
  private aligned(delayMs: number): number {
    const now = Date.now();
    for (const at of this.pollsPlanned) if (at < now) this.pollsPlanned.delete(at);
    const target = now + delayMs;
    if (this.waiting >= 2) {
      const earliest = target - delayMs * JOIN_SOONER_SHARE;
      const latest = target + Math.max(ALIGN_MS, delayMs * JOIN_LATER_SHARE);
      const joined = [...this.pollsPlanned].filter((at) => at >= earliest && at <= latest).sort((a, b) => Math.abs(a - target) - Math.abs(b - target))[0];
      if (joined !== undefined) return joined - now;
    }
    this.pollsPlanned.add(target);
    return delayMs;
  }

}
