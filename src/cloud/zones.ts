/**
 * The availability zones of this region, from DescribeAvailabilityZones: asked once, kept for an hour (a region
 * gains a zone rarely), and asked again after a failure.
 */
import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import type { CloudContext } from './context';
import { mapEc2Error } from './errors';

export const ZONES_CACHE_MS = 3_600_000;

export class RegionZones {
  private cached?: { zones: Promise<string[]>; until: number };

  constructor(private readonly context: Pick<CloudContext, 'ec2'>) {}

  list(signal?: AbortSignal): Promise<string[]> {
    const now = Date.now();
    if (this.cached && this.cached.until > now) return this.cached.zones;
    const zones = this.context.ec2
      .send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-type', Values: ['availability-zone'] }] }), { abortSignal: signal })
      .then((out) => (out.AvailabilityZones ?? []).map((zone) => zone.ZoneName ?? '').filter(Boolean).sort())
      .catch((err: unknown) => {
        this.cached = undefined;
        throw mapEc2Error(err, 'DescribeAvailabilityZones');
      });
    this.cached = { zones, until: now + ZONES_CACHE_MS };
    return zones;
  }
}
