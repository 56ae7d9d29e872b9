import { ComplaintLimiter } from '../../src/api/complaints';

describe('repeated complaints', () => {
  it('admits a few of each kind per window, and reports how many were left out on the next admitted one', () => {
    let now = 0;
    const limiter = new ComplaintLimiter(3, 10_000, () => now);
    const admitted = () => Array.from({ length: 5 }, () => limiter.admit('Remove in-use').log);
    expect(admitted()).toEqual([true, true, true, false, false]);
    expect(limiter.admit('Mount not-found')).toEqual({ log: true, suppressed: 0 });
    now = 10_000;
    expect(limiter.admit('Remove in-use')).toEqual({ log: true, suppressed: 2 });
    expect(limiter.admit('Remove in-use')).toEqual({ log: true, suppressed: 0 });
  });
});
