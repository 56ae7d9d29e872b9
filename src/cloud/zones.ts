/**
 * The availability zones of this region, from DescribeAvailabilityZones: asked once, kept for an hour (a region
 * gains a zone rarely), and asked again after a failure.
 */
import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import { CachedAnswer } from '../common/cached-answer';
import type { CloudContext } from './context';
import { ec2Call } from './errors';

export const ZONES_CACHE_MS = 3_600_000;

export class RegionZones {
  private readonly zones: CachedAnswer<string[]>;

  constructor({ ec2 }: Pick<CloudContext, 'ec2'>) {
    this.zones = new CachedAnswer(ZONES_CACHE_MS, async (signal) => {
      const filters = [{ Name: 'zone-type', Values: ['availability-zone'] }];
      const out = await ec2Call('DescribeAvailabilityZones', () => ec2.send(new DescribeAvailabilityZonesCommand({ Filters: filters }), { abortSignal: signal }));
      return (out.AvailabilityZones ?? []).map((zone) => zone.ZoneName ?? '').filter(Boolean).sort();
    });
  }

  list(signal?: AbortSignal): Promise<string[]> {
    return this.zones.get(signal);
  }
}
