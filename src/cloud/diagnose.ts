/** `berth doctor`'s checks of EC2 and instance metadata, run without the volume service (it may be what cannot start). */
import type { DoctorCheck } from '../common/checks';
import type { Logger } from '../log';
import { buildEc2Client } from './client';
import type { CloudConfig } from './context';
import { CHECKED_ACTIONS, diagnoseEc2, type Ec2Sample } from './diagnose-ec2';
import { diagnoseMetadata } from './diagnose-metadata';

export type { Ec2Sample };

export async function diagnoseCloud(config: CloudConfig, logger: Logger, sample: Ec2Sample): Promise<DoctorCheck[]> {
  const { checks, identity } = await diagnoseMetadata(config, logger);
  if (!identity) {
    return [...checks, { name: 'credentials', outcome: 'skip', detail: 'needs instance metadata (this instance\'s id and zone)' }, ...CHECKED_ACTIONS.map((action) => ({ name: `iam:${action}`, outcome: 'skip' as const, detail: 'needs instance metadata' }))];
  }
  const { client } = buildEc2Client(config, identity.region, logger);
  try {
    return [...checks, ...(await diagnoseEc2(client, identity, config, sample))];
  } finally {
    client.destroy();
  }
}
