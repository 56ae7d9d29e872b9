import { WaitTimeoutError, waitFor, type PollResult } from '../../src/common/poll';
import { BerthError } from '../../src/common/errors';

const base = { what: 'vol-1 to become available', initialDelayMs: 5, maxAttempts: 50, timeoutMs: 5000 };

describe('waitFor', () => {
  it('polls until done and returns the value', async () => {
    let polls = 0;
    const value = await waitFor(async (): Promise<PollResult<string>> => (++polls < 3 ? { done: false, state: 'creating' } : { done: true, value: 'ok' }), base);
    expect(value).toBe('ok');
    expect(polls).toBe(3);
  });

  it('waits initialDelayMs before the first poll and backs off by the factor', async () => {
    const at: number[] = [];
    const start = Date.now();
    await expect(
      waitFor(async () => {
        at.push(Date.now() - start);
        return { done: false, state: 'creating' };
      }, { ...base, initialDelayMs: 40, factor: 2, maxAttempts: 3 }),
    ).rejects.toThrow(WaitTimeoutError);
    expect(at[0]).toBeGreaterThanOrEqual(35);
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(70);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(150);
  });

  it('gives up after maxAttempts polls with a timeout naming what and the last state', async () => {
    let polls = 0;
    const err = await waitFor(async () => {
      polls++;
      return { done: false, state: `attaching (${polls})` };
    }, { ...base, maxAttempts: 4 }).catch((e: unknown) => e);
    expect(polls).toBe(4);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('timeout');
    expect((err as Error).message).toContain('vol-1 to become available');
    expect((err as Error).message).toContain('attaching (4)');
  });

  it('gives up at timeoutMs even with attempts left', async () => {
    const start = Date.now();
    const err = await waitFor(async () => ({ done: false, state: 'creating' }), { ...base, maxAttempts: 1000, timeoutMs: 150 }).catch((e: unknown) => e);
    const elapsed = Date.now() - start;
    expect((err as WaitTimeoutError).code).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
  });

  it('stops promptly when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const start = Date.now();
    const err = await waitFor(async () => ({ done: false, state: 'detaching' }), { ...base, initialDelayMs: 10_000, signal: controller.signal }).catch((e: unknown) => e);
    expect(Date.now() - start).toBeLessThan(1000);
    expect((err as WaitTimeoutError).reason).toBe('aborted');
    expect((err as Error).message).toContain('deadline');
  });

  it('lets a poll stop the wait with its own error', async () => {
    await expect(waitFor(async () => {
      throw new BerthError('cloud', 'volume entered the error state');
    }, base)).rejects.toThrow('error state');
  });
  it('with precision, notices a transition within that share of the time waited', async () => {
    const flipAtMs = 160;
    const detectedAt = async (extra: { precision?: number }) => {
      const start = Date.now();
      await waitFor(
        async (): Promise<PollResult<number>> => (Date.now() - start >= flipAtMs ? { done: true, value: 0 } : { done: false, state: 'attaching' }),
        { ...base, initialDelayMs: 10, factor: 2, maxAttempts: 1000, ...extra },
      );
      return Date.now() - start;
    };
    // Plain backoff by 2 polls at 10, 30, 70, 150, 310 ms: 150 ms late.
    expect(await detectedAt({})).toBeGreaterThanOrEqual(300);
    // 10% of 160 ms is 16 ms; allow for timer slack on a busy machine.
    expect(await detectedAt({ precision: 0.1 })).toBeLessThan(flipAtMs + 16 + 60);
  });

  it('with precision, still waits initialDelayMs between early polls', async () => {
    const at: number[] = [];
    const start = Date.now();
    await waitFor(async (): Promise<PollResult<true>> => {
      at.push(Date.now() - start);
      return at.length === 5 ? { done: true, value: true } : { done: false, state: 'creating' };
    }, { ...base, initialDelayMs: 20, precision: 0.1 });
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(18);
  });
});
