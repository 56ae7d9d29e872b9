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
  it('polls at half the time waited (or of a usual detach here): a 4 s release costs about 6 DescribeVolumes, not 17', () => {
    expect(pollsFor(4_000, undefined)).toBeLessThanOrEqual(6);
    expect(pollsFor(4_000, 3_000)).toBeLessThanOrEqual(5);
    expect(pollsFor(4_000, 10)).toBeLessThanOrEqual(6);
  });

  it('notices a quick release quickly, and never polls more often than every 500 ms after that, nor less often than every 2 s', () => {
    expect(releasePollDelayMs(0, 0, 3_000)).toBe(250);
    expect(releasePollDelayMs(250, 1, 0)).toBe(500);
    expect(releasePollDelayMs(60_000, 40, undefined)).toBe(2_000);
    expect(releasePollDelayMs(1_000, 3, 10_000)).toBe(2_000);
  });
});
