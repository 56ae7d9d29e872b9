/**
 * What EC2 answers a caller whose IAM policies do not allow an action (the "deny" fault): UnauthorizedOperation with
 * HTTP 403 (as STS's DecodeAuthorizationMessage reference describes Client.UnauthorizedOperation), in the form AWS's
 * knowledge center quotes: "You are not authorized to perform this operation. User: <arn> is not authorized to
 * perform: ec2:RunInstances on resource: <arn> because no identity-based policy allows the ec2:RunInstances action.
 * Encoded authorization failure message: ...". The encoded message is opaque here; on AWS only
 * sts:DecodeAuthorizationMessage reads it.
 */
import { randomBytes } from 'node:crypto';
import type { KnownKey } from './credentials';
import { Ec2Error } from './ec2-error';
import type { QueryParams } from './query';

/** Who signed: the instance role's session (named after the instance, as on EC2) or a user holding the long-term key. */
export function principalArn(key: KnownKey, accountId: string): string {
  if (key.kind === 'temporary') return `arn:aws:sts::${accountId}:assumed-role/${key.credential.role}/${key.credential.instanceId}`;
  return `arn:aws:iam::${accountId}:user/local-ec2-user`;
}

/** The first resource the call names, as its ARN (snapshot ARNs have no account, as on EC2). */
function resourceArn(params: QueryParams, region: string, accountId: string): string | undefined {
  const first = (name: string) => params.get(name) ?? params.get(`${name}.1`);
  const volumeId = first('VolumeId');
  if (volumeId) return `arn:aws:ec2:${region}:${accountId}:volume/${volumeId}`;
  const instanceId = first('InstanceId');
  if (instanceId) return `arn:aws:ec2:${region}:${accountId}:instance/${instanceId}`;
  const snapshotId = first('SnapshotId');
  if (snapshotId) return `arn:aws:ec2:${region}::snapshot/${snapshotId}`;
  return undefined;
}

export interface DeniedCall {
  action: string;
  principal: string;
  params: QueryParams;
  region: string;
  accountId: string;
}

export function unauthorizedOperation({ action, principal, params, region, accountId }: DeniedCall): Ec2Error {
  const resource = resourceArn(params, region, accountId);
  // Whether EC2 names the resource for actions without one (Describe*) is not documented: here it names none.
  const onResource = resource ? ` on resource: ${resource}` : '';
  const encoded = randomBytes(96).toString('base64url');
  return new Ec2Error(
    'UnauthorizedOperation',
    `You are not authorized to perform this operation. User: ${principal} is not authorized to perform: ec2:${action}${onResource} ` +
      `because no identity-based policy allows the ec2:${action} action. Encoded authorization failure message: ${encoded}`,
    403,
  );
}
