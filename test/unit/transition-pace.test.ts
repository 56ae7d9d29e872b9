import { WaitTimeoutError } from '../../src/common/poll';
import { ALIGN_MS, TransitionPace } from '../../src/common/transition-pace';

const LIMITS = { initialDelayMs: 25, floorMs: 100, maxDelayMs: 2_000 };

/** The times (ms after the start) at which a wait would poll a transition that ends `durationMs` after it began. */
function pollTimes(pace: TransitionPace, durationMs: number, fallback = false): number[] {
  const times: number[] = [];
  let elapsed = 0;
  for (let polls = 0; polls < 100; polls++) {
    elapsed += pace.nextDelayMs('attach', elapsed, polls, fallback);
    times.push(elapsed);
    if (elapsed >= durationMs) break;
  }
  return times;
}

/** Runs waits for `durationMs` transitions through the pace's own bookkeeping (no real time) and returns the polls of each. */
function learn(pace: TransitionPace, durationMs: number, waits: number): number[][] {
  const all: number[][] = [];
  for (let i = 0; i < waits; i++) {
    const times = pollTimes(pace, durationMs);
    const missed = times.filter((time) => time < durationMs);
    pace.record('attach', times[times.length - 1], { firstPoll: times.length === 1, missedAtMs: missed[missed.length - 1] });
    all.push(times);
  }
  return all;
}

describe('TransitionPace', () => {
  it('polls a transition never seen before soon, then backs off by half the time waited, within the floor and the cap', () => {
    const pace = new TransitionPace(LIMITS);
    const times = pollTimes(pace, 10_000);
    expect(times.slice(0, 4)).toEqual([25, 125, 225, 337.5]);
    const gaps = times.slice(1).map((time, i) => time - times[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2_000);
    expect(times.length).toBeLessThan(15);
  });

  it('after a few transitions of the same length, polls about once each, shortly after the usual end', () => {
    const pace = new TransitionPace(LIMITS);
    const waits = learn(pace, 2_000, 8);
    expect(waits[0].length).toBeGreaterThan(5);
    const settled = waits.slice(3);
    const polls = settled.reduce((sum, times) => sum + times.length, 0) / settled.length;
    expect(polls).toBeLessThanOrEqual(2);
    for (const times of settled) expect(times[times.length - 1] - 2_000).toBeLessThanOrEqual(300);
  });

  it('comes down to transitions that got faster, and follows ones that got slower', () => {
    const pace = new TransitionPace(LIMITS);
    learn(pace, 4_000, 4);
    const faster = learn(pace, 1_000, 6);
    expect(faster[faster.length - 1][0]).toBeLessThan(1_300);
    const slower = learn(pace, 3_000, 6);
    const last = slower[slower.length - 1];
    expect(last.length).toBeLessThanOrEqual(2);
    expect(last[last.length - 1]).toBeLessThan(3_400);
  });

  it('polls close together near the expected end, then backs off when the transition runs long', () => {
    const pace = new TransitionPace(LIMITS);
    pace.record('attach', 1_000);
    const times = pollTimes(pace, 6_000);
    expect(times[0]).toBe(1_050);
    expect(times[1] - times[0]).toBe(100);
    const lateGaps = times.slice(1).map((time, i) => time - times[i]).filter((_, i) => times[i] > 1_500);
    expect(Math.max(...lateGaps)).toBeGreaterThan(500);
  });

  it('as a fallback to another watch, waits until the transition is overdue before its first poll, and polls at most every 2 s', () => {
    const pace = new TransitionPace(LIMITS);
    pace.record('attach', 2_000);
    expect(pollTimes(pace, 10_000, true)[0]).toBe(3_000);
    pace.record('attach', 5);
    pace.record('attach', 5);
    const times = pollTimes(pace, 3_000, true);
    expect(times[0]).toBe(2_000);
    expect(times.length).toBeLessThanOrEqual(2);
    const gaps = pollTimes(pace, 20_000, true).slice(1).map((time, i, later) => time - (i === 0 ? 2_000 : later[i - 1]));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_000);
  });

  it('keeps each kind of transition apart', () => {
    const pace = new TransitionPace(LIMITS);
    pace.record('create', 3_000);
    expect(pace.expectedMs('create')).toBe(3_000);
    expect(pace.expectedMs('detach')).toBeUndefined();
  });

  it('learns from a wait that ends done, not from one that times out', async () => {
    const pace = new TransitionPace({ initialDelayMs: 5, floorMs: 5, maxDelayMs: 20 });
    const options = { what: 'vol-1 to attach', initialDelayMs: 5, maxAttempts: 100, timeoutMs: 1_000 };
    let polls = 0;
    const started = Date.now();
    await pace.wait('attach', started, async () => (++polls < 3 ? { done: false, state: 'attaching' } : { done: true, value: 'ok' }), options);
    const learned = pace.expectedMs('attach');
    expect(learned).toBeGreaterThan(0);
    expect(learned).toBeLessThanOrEqual(Date.now() - started);

    const err = await pace.wait('detach', Date.now(), async () => ({ done: false, state: 'detaching' }), { ...options, timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(pace.expectedMs('detach')).toBeUndefined();
  });

  it('lines up the polls of waits under way together, so that they can share one DescribeVolumes', async () => {
    const pace = new TransitionPace({ initialDelayMs: 5, floorMs: 100, maxDelayMs: 2_000 });
    const options = { what: 'a detach', initialDelayMs: 5, maxAttempts: 100, timeoutMs: 5_000 };
    const polledAt: number[][] = [[], []];
    const waitOn = (i: number) => {
      const started = Date.now();
      return pace.wait('detach', started, async () => {
        polledAt[i].push(Date.now());
        return Date.now() - started >= 900 ? { done: true, value: i } : { done: false, state: 'detaching' };
      }, options);
    };
    const first = waitOn(0);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await Promise.all([first, waitOn(1)]);
    const slots = (times: number[]) => times.slice(1).map((time) => Math.floor(time / ALIGN_MS));
    const shared = slots(polledAt[1]).filter((slot) => slots(polledAt[0]).includes(slot));
    expect(shared.length).toBeGreaterThanOrEqual(2);
  });
});
