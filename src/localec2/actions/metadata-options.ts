/**
 * ModifyInstanceMetadataOptions: HttpTokens (IMDSv2 optional or required) and HttpPutResponseHopLimit (1 to 64, EC2's
 * default 1), which the instance's metadata service applies at once (see imds.ts for what the hop limit does).
 * As on EC2 the answer shows the options "pending" and DescribeInstances then "applied". Turning the endpoint,
 * IPv6 or tags in metadata on is not simulated and is refused.
 */
import { Ec2Error, dryRunSucceeded, invalidParameterValue } from '../ec2-error';
import { MAX_HOP_LIMIT } from '../instance-setup';
import type { QueryParams } from '../query';
import { metadataOptionsXml } from '../render';
import { instanceState } from '../state';
import type { Action } from './context';
import { findInstance } from './lookups';

function oneOf<T extends string>(params: QueryParams, name: string, allowed: readonly T[]): T | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Expected one of: ${allowed.join(', ')}.`);
  return value as T;
}

function refuseEnabling(params: QueryParams, name: string, onlyValue: 'enabled' | 'disabled'): void {
  const value = oneOf(params, name, ['enabled', 'disabled']);
  if (value !== undefined && value !== onlyValue) throw invalidParameterValue(`local-ec2 does not simulate ${name}=${value}.`);
}

export const modifyInstanceMetadataOptions: Action = {
  params: ['InstanceId', 'HttpTokens', 'HttpPutResponseHopLimit', 'HttpEndpoint', 'HttpProtocolIpv6', 'InstanceMetadataTags'],
  async handle(ctx, { params, region, dryRun }) {
    const instance = findInstance(ctx.state, region, params.require('InstanceId'));
    const state = instanceState(instance);
    if (state !== 'running' && state !== 'stopped') {
      // The reference speaks of "a running or stopped instance"; the code and message for others are not documented.
      throw new Ec2Error('IncorrectInstanceState', `The instance '${instance.id}' is not in the 'running' or 'stopped' state (it is '${state}').`);
    }
    const httpTokens = oneOf(params, 'HttpTokens', ['optional', 'required'] as const);
    const hopLimit = params.int('HttpPutResponseHopLimit', 'HttpPutResponseHopLimit');
    if (hopLimit !== undefined && (hopLimit < 1 || hopLimit > MAX_HOP_LIMIT)) {
      // The range is EC2's ("Possible values: Integers from 1 to 64"); the message is not documented.
      throw invalidParameterValue(`Value (${hopLimit}) for parameter HttpPutResponseHopLimit is invalid. Expected an integer from 1 to ${MAX_HOP_LIMIT}.`);
    }
    refuseEnabling(params, 'HttpEndpoint', 'enabled');
    refuseEnabling(params, 'HttpProtocolIpv6', 'disabled');
    refuseEnabling(params, 'InstanceMetadataTags', 'disabled');
    if (dryRun) throw dryRunSucceeded();
    if (httpTokens !== undefined) instance.imdsv2 = httpTokens;
    if (hopLimit !== undefined) instance.hopLimit = hopLimit;
    ctx.commit();
    ctx.log.info('instance metadata options modified', { instanceId: instance.id, httpTokens: instance.imdsv2, hopLimit: instance.hopLimit });
    return { instanceId: instance.id, instanceMetadataOptions: metadataOptionsXml(instance, 'pending') };
  },
};
