/**
 * `berth doctor`'s instance-metadata checks: reachable, IMDSv2 tokens answered (a hop limit of 1 drops them for a
 * caller one network hop further, such as berth in a container without host networking), and this instance's
 * region and zone against EBS_REGION.
 */
import type { DoctorCheck } from '../common/checks';
import { errorMessage } from '../common/errors';
import type { Logger } from '../log';
import type { ClientConfig } from './client';
import { MetadataClient, readInstanceIdentity } from './metadata';
import type { InstanceIdentity } from './types';

/** Long enough for any IMDS on the instance itself; a dropped token answer never comes. */
const TOKEN_WAIT_MS = 2_000;

export async function diagnoseMetadata(
  config: Pick<ClientConfig, 'metadataEndpoint' | 'region' | 'callTimeoutMs'>,
  logger: Logger,
): Promise<{ checks: DoctorCheck[]; identity?: InstanceIdentity }> {
  const endpoint = config.metadataEndpoint || 'http://169.254.169.254';
  const metadata = new MetadataClient({ endpoint, timeoutMs: Math.min(config.callTimeoutMs, TOKEN_WAIT_MS), logger, attempts: 1 });
  const checks: DoctorCheck[] = [];
  let identity: InstanceIdentity | undefined;
  try {
    identity = await readInstanceIdentity(new MetadataClient({ endpoint, timeoutMs: config.callTimeoutMs, logger }));
    checks.push({ name: 'metadata', outcome: 'pass', detail: `${endpoint} answers: instance ${identity.instanceId} (${identity.instanceType || 'type unknown'})` });
  } catch (err) {
    checks.push({
      name: 'metadata',
      outcome: 'fail',
      detail: `instance metadata at ${endpoint} does not answer: ${errorMessage(err)}`,
      fix: 'Run berth on an EC2 instance with the metadata service enabled (http-endpoint enabled), or point AWS_EC2_METADATA_SERVICE_ENDPOINT at a reachable one.',
    });
  }
  checks.push(tokenCheck(await metadata.probeToken(), endpoint, identity));
  checks.push(regionCheck(config.region, identity));
  return { checks, identity };
}

function tokenCheck(probe: Awaited<ReturnType<MetadataClient['probeToken']>>, endpoint: string, identity?: InstanceIdentity): DoctorCheck {
  const instance = identity?.instanceId ?? '<instance-id>';
  switch (probe.outcome) {
    case 'token':
      return { name: 'imdsv2', outcome: 'pass', detail: 'IMDSv2 token issued' };
    case 'no-answer':
      return {
        name: 'imdsv2',
        outcome: 'fail',
        detail: `the IMDSv2 token request got no answer within ${probe.waitedMs} ms: the instance's metadata hop limit drops it before it reaches berth${identity ? ' (berth fell back to IMDSv1)' : ''}`,
        fix: `Raise the hop limit: aws ec2 modify-instance-metadata-options --instance-id ${instance} --http-put-response-hop-limit 2 (or run berth with host networking).`,
      };
    case 'refused':
      return {
        name: 'imdsv2',
        outcome: 'warn',
        detail: `the IMDSv2 token request was refused (HTTP ${probe.status}): berth uses IMDSv1`,
        fix: `Enable IMDSv2: aws ec2 modify-instance-metadata-options --instance-id ${instance} --http-tokens required --http-endpoint enabled.`,
      };
    case 'unreachable':
      return { name: 'imdsv2', outcome: 'skip', detail: `no metadata service at ${endpoint}: ${probe.error}` };
  }
}

function regionCheck(configured: string, identity?: InstanceIdentity): DoctorCheck {
  if (!identity) return { name: 'region', outcome: 'skip', detail: 'needs instance metadata' };
  const zone = `zone ${identity.availabilityZone}`;
  if (configured && configured !== identity.region) {
    return {
      name: 'region',
      outcome: 'fail',
      detail: `EBS_REGION is ${configured} but this instance is in ${identity.region} (${zone}): volumes made there cannot be attached here`,
      fix: `Unset EBS_REGION, or set it to ${identity.region}.`,
    };
  }
  return { name: 'region', outcome: 'pass', detail: `${identity.region}, ${zone}${configured ? '' : ' (from instance metadata)'}` };
}
