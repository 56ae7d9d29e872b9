/** DescribeInstances and DescribeAvailabilityZones: the simulated instances and their region's zones. */
import { dryRunSucceeded, invalidParameterCombination, invalidParameterValue } from '../ec2-error';
import { applyFilters, checkMaxResults, paginate, tagFilterValues } from '../filters';
import { checkInstanceId, zoneIdOf } from '../ids';
import { availabilityZoneXml, instanceStateCode, instanceXml } from '../render';
import { type InstanceRecord, type LocalEc2State, instanceState } from '../state';
import type { Action } from './context';
import { findInstance, instancesInRegion } from './lookups';
import { attachedTo } from './attachments';
import { regionZones } from './volumes';

const INSTANCE_FILTERS = [
  'instance-id',
  'availability-zone',
  'instance-type',
  'instance-state-name',
  'instance-state-code',
  'block-device-mapping.volume-id',
  'block-device-mapping.device-name',
  'block-device-mapping.status',
];

function instanceFilterField(state: LocalEc2State) {
  return (instance: InstanceRecord, name: string): string[] | undefined => {
    const attachments = attachedTo(state, instance.id);
    switch (name) {
      case 'instance-id':
        return [instance.id];
      case 'availability-zone':
        return [instance.availabilityZone];
      case 'instance-type':
        return [instance.instanceType];
      case 'instance-state-name':
        return [instanceState(instance)];
      case 'instance-state-code':
        return [String(instanceStateCode(instanceState(instance)))];
      case 'block-device-mapping.volume-id':
        return attachments.map((volume) => volume.id);
      case 'block-device-mapping.device-name':
        return attachments.map((volume) => volume.attachment!.device);
      case 'block-device-mapping.status':
        return attachments.map((volume) => volume.attachment!.status);
      default:
        return tagFilterValues(instance.tags, name);
    }
  };
}

export const describeInstances: Action = {
  params: ['InstanceId', 'Filter', 'MaxResults', 'NextToken', 'IncludeManagedResources'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('InstanceId').map(checkInstanceId);
    const maxResults = params.int('MaxResults', 'maxResults');
    if (ids.length > 0 && maxResults !== undefined) {
      throw invalidParameterCombination('The parameter instancesSet cannot be used with the parameter maxResults');
    }
    checkMaxResults(maxResults, 5);
    for (const id of ids) findInstance(ctx.state, region, id);
    let instances = instancesInRegion(ctx.state, region);
    if (ids.length > 0) instances = instances.filter((instance) => ids.includes(instance.id));
    const filtered = applyFilters(instances, params.filters(), instanceFilterField(ctx.state), INSTANCE_FILTERS);
    const page = paginate(filtered, (instance) => instance.id, maxResults, params.get('NextToken'), 1000);
    if (dryRun) throw dryRunSucceeded();
    const volumes = Object.values(ctx.state.volumes);
    return {
      reservationSet: page.items.map((instance) => ({
        reservationId: instance.reservationId,
        ownerId: ctx.accountId,
        groupSet: [],
        instancesSet: [instanceXml(instance, volumes)],
      })),
      nextToken: page.nextToken,
    };
  },
};

const ZONE_FILTERS = ['zone-name', 'zone-id', 'state', 'region-name', 'zone-type', 'group-name'];

export const describeAvailabilityZones: Action = {
  params: ['ZoneName', 'ZoneId', 'AllAvailabilityZones', 'Filter'],
  async handle(_ctx, { params, region, dryRun }) {
    let zones = regionZones(region);
    const names = params.list('ZoneName');
    const zoneIds = params.list('ZoneId');
    for (const name of names) if (!zones.includes(name)) throw invalidParameterValue(`Invalid availability zone: [${name}]`);
    for (const id of zoneIds) if (!zones.some((zone) => zoneIdOf(zone) === id)) throw invalidParameterValue(`Invalid availability zone id: [${id}]`);
    if (names.length > 0 || zoneIds.length > 0) zones = zones.filter((zone) => names.includes(zone) || zoneIds.includes(zoneIdOf(zone)));
    const field = (zone: string, name: string): string[] | undefined =>
      ({
        'zone-name': [zone],
        'zone-id': [zoneIdOf(zone)],
        state: ['available'],
        'region-name': [region],
        'zone-type': ['availability-zone'],
        'group-name': [region],
      })[name];
    const filtered = applyFilters(zones, params.filters(), field, ZONE_FILTERS);
    if (dryRun) throw dryRunSucceeded();
    return { availabilityZoneInfo: filtered.map(availabilityZoneXml) };
  },
};
