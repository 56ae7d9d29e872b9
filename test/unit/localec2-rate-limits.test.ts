import { QueryParams } from '../../src/localec2/query';
import { bucketFor, parseThrottle, RateLimits } from '../../src/localec2/rate-limits';

const query = (body: string) => QueryParams.parse('', body);
const plain = query('Action=X');

describe('local-ec2 rate limits: EC2\'s documented request token buckets', () => {
  it('size each action\'s bucket by its category, as the EC2 developer guide lists them', () => {
    expect(bucketFor('DescribeVolumes', query('Filter.1.Name=tag%3Aberth%3Aname&Filter.1.Value.1=db'))).toEqual({ bucket: 'DescribeVolumes', limit: { capacity: 100, refillPerSecond: 20 } });
    expect(bucketFor('DescribeVolumes', query('MaxResults=500'))).toEqual({ bucket: 'DescribeVolumes', limit: { capacity: 100, refillPerSecond: 20 } });
    expect(bucketFor('DescribeVolumes', query('VolumeId.1=vol-1'))).toEqual({ bucket: 'DescribeVolumes (unfiltered, unpaginated)', limit: { capacity: 50, refillPerSecond: 10 } });
    expect(bucketFor('DescribeAvailabilityZones', plain).limit).toEqual({ capacity: 100, refillPerSecond: 20 });
    expect(bucketFor('AttachVolume', plain).limit).toEqual({ capacity: 50, refillPerSecond: 5 });
    expect(bucketFor('ModifyVolume', plain).limit).toEqual({ capacity: 50, refillPerSecond: 5 });
    expect(bucketFor('CreateVolume', plain).limit).toEqual({ capacity: 100, refillPerSecond: 5 });
    expect(bucketFor('DeleteTags', plain).limit).toEqual({ capacity: 100, refillPerSecond: 10 });
  });

  it('let a full bucket\'s worth through at once, then only the refill rate', () => {
    let now = 0;
    const limits = new RateLimits(1, () => now);
    const attach = () => limits.take('us-east-1', 'AttachVolume', plain);
    expect(Array.from({ length: 50 }, attach).every(Boolean)).toBe(true);
    expect(attach()).toBe(false);
    now += 1000;
    expect(Array.from({ length: 6 }, attach)).toEqual([true, true, true, true, true, false]);
  });

  it('keep one bucket per action and region, shared by every caller of the account', () => {
    let now = 0;
    const limits = new RateLimits(50, () => now);
    expect(limits.take('us-east-1', 'AttachVolume', plain)).toBe(true);
    expect(limits.take('us-east-1', 'AttachVolume', plain)).toBe(false);
    expect(limits.take('us-east-1', 'DetachVolume', plain)).toBe(true);
    expect(limits.take('eu-west-1', 'AttachVolume', plain)).toBe(true);
    now += 10_000;
    expect(limits.take('us-east-1', 'AttachVolume', plain)).toBe(true);
  });

  it('divide sizes and refill rates by N with aws/N, never below one token', () => {
    expect(parseThrottle('aws')).toBe(1);
    expect(parseThrottle('aws/20')).toBe(20);
    expect(parseThrottle('off')).toBeUndefined();
    expect(() => parseThrottle('aws/0.5')).toThrow(/--throttle "aws\/0.5": expected off, aws .* or aws\/N with N >= 1/);
    expect(() => parseThrottle('fast')).toThrow(/--throttle "fast"/);
    let now = 0;
    const limits = new RateLimits(1000, () => now);
    expect(limits.take('us-east-1', 'CreateVolume', plain)).toBe(true);
    expect(limits.take('us-east-1', 'CreateVolume', plain)).toBe(false);
    now += 199_000;
    expect(limits.take('us-east-1', 'CreateVolume', plain)).toBe(false);
    now += 1_000;
    expect(limits.take('us-east-1', 'CreateVolume', plain)).toBe(true);
  });
});
