import { releasePollDelayMs } from '../../src/volumes/release-wait';

/** The DescribeVolumes a wait for another host's release makes when the release takes `releaseMs`. */
function pollsFor(releaseMs: number, usualDetachMs: number | undefined): number {
  let elapsed = 0;
  for (let polls = 0; ; polls++) {
    elapsed += releasePollDelayMs(elapsed, polls, usualDetachMs);
    if (elapsed >= releaseMs) return polls + 1;
  }
}

describe('the wait for another host to release a volume', () => {
  it('polls about every half of a usual detach here: a 3 s release costs 4 or so DescribeVolumes, not 10', () => {
    expect(pollsFor(3_000, 3_000)).toBeLessThanOrEqual(4);
    expect(pollsFor(3_000, undefined)).toBeLessThanOrEqual(7);
  });

  it('notices a quick release quickly, and never polls more often than every 250 ms or less often than every second', () => {
    expect(releasePollDelayMs(0, 0, 3_000)).toBe(250);
    expect(releasePollDelayMs(100, 1, 0)).toBe(250);
    expect(releasePollDelayMs(60_000, 40, undefined)).toBe(1_000);
    expect(releasePollDelayMs(1_000, 3, 10_000)).toBe(1_000);
  });
});
