/**
 * EC2's request rate limits, as "Request throttling for the Amazon EC2 API" (EC2 developer guide) documents them: one
 * token bucket per API action, per account and region (so every instance of the account draws on the same buckets);
 * each request takes a token, a request that finds none is answered RequestLimitExceeded, and buckets refill at a
 * fixed rate up to their size. Describe calls with neither a filter nor pagination draw on a smaller bucket of their
 * own. `--throttle aws/N` divides every bucket's size and refill by N, so that a small fleet here meets the limits a
 * fleet N times larger meets on AWS.
 */
import type { QueryParams } from './query';

export interface BucketLimit {
  capacity: number;
  refillPerSecond: number;
}

const NON_MUTATING: BucketLimit = { capacity: 100, refillPerSecond: 20 };
const UNFILTERED_NON_MUTATING: BucketLimit = { capacity: 50, refillPerSecond: 10 };
const MUTATING: BucketLimit = { capacity: 50, refillPerSecond: 5 };

/** The guide's "uncategorized actions" that this endpoint serves: their own sizes, whatever their category. */
const OWN_LIMITS: Record<string, BucketLimit> = {
  CreateVolume: { capacity: 100, refillPerSecond: 5 },
  DeleteVolume: { capacity: 100, refillPerSecond: 5 },
  CreateSnapshot: { capacity: 100, refillPerSecond: 5 },
  DeleteSnapshot: { capacity: 100, refillPerSecond: 5 },
  CreateTags: { capacity: 100, refillPerSecond: 10 },
  DeleteTags: { capacity: 100, refillPerSecond: 10 },
};

/** Non-mutating actions that, asked with neither a filter nor pagination, take from the smaller bucket. */
const SMALLER_BUCKET_UNFILTERED = new Set([
  'DescribeInstances',
  'DescribeInstanceStatus',
  'DescribeNetworkInterfaces',
  'DescribeSecurityGroups',
  'DescribeSnapshots',
  'DescribeSpotInstanceRequests',
  'DescribeVolumes',
]);

const NON_MUTATING_ACTION = /^(Describe|List|Search|Get)/;

/** The bucket a call draws on, and its documented size. */
export function bucketFor(action: string, params: QueryParams): { bucket: string; limit: BucketLimit } {
  const own = OWN_LIMITS[action];
  if (own) return { bucket: action, limit: own };
  if (!NON_MUTATING_ACTION.test(action)) return { bucket: action, limit: MUTATING };
  if (SMALLER_BUCKET_UNFILTERED.has(action) && !params.has('Filter.1.Name') && !params.has('MaxResults') && !params.has('NextToken')) {
    return { bucket: `${action} (unfiltered, unpaginated)`, limit: UNFILTERED_NON_MUTATING };
  }
  return { bucket: action, limit: NON_MUTATING };
}

/** `off`, `aws` or `aws/N` (N ≥ 1: every bucket's size and refill divided by N). */
export function parseThrottle(text: string): number | undefined {
  if (text === 'off') return undefined;
  const match = /^aws(?:\/(\d+(?:\.\d+)?))?$/.exec(text.trim());
  const divisor = match ? Number(match[1] ?? 1) : NaN;
  if (!match || !(divisor >= 1)) throw new Error(`--throttle ${JSON.stringify(text)}: expected off, aws (EC2's documented request limits) or aws/N with N >= 1 (those limits divided by N)`);
  return divisor;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimits {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    /** Every bucket's size and refill are divided by this. */
    private readonly divisor: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for the call; false when its bucket is empty (the call is then throttled). */
  take(region: string, action: string, params: QueryParams): boolean {
    const { bucket, limit } = bucketFor(action, params);
    const capacity = Math.max(1, limit.capacity / this.divisor);
    const refillPerMs = limit.refillPerSecond / this.divisor / 1000;
    const key = `${region} ${bucket}`;
    const now = this.now();
    const state = this.buckets.get(key) ?? { tokens: capacity, at: now };
    state.tokens = Math.min(capacity, state.tokens + (now - state.at) * refillPerMs);
    state.at = now;
    this.buckets.set(key, state);
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }
}
