import { DescribeAvailabilityZonesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { RegionZones, ZONES_CACHE_MS } from '../../src/cloud/zones';
import { BerthError } from '../../src/common/errors';
import { ec2Error } from '../support/fake-ec2';

function setup() {
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
  const mock = mockClient(ec2);
  mock.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: [{ ZoneName: 'us-east-1b' }, { ZoneName: 'us-east-1a' }, {}] });
  return { mock, zones: new RegionZones({ ec2 }) };
}

describe('RegionZones', () => {
  afterEach(() => jest.restoreAllMocks());
  const at = (ms: number) => jest.spyOn(Date, 'now').mockReturnValue(ms);

  it("lists the region's availability zones (not Local Zones), sorted", async () => {
    const { mock, zones } = setup();
    expect(await zones.list()).toEqual(['us-east-1a', 'us-east-1b']);
    expect(mock.commandCalls(DescribeAvailabilityZonesCommand)[0].args[0].input.Filters).toEqual([{ Name: 'zone-type', Values: ['availability-zone'] }]);
  });

  it('asks EC2 once an hour, and again at once after a failure', async () => {
    const { mock, zones } = setup();
    at(1_000_000);
    await Promise.all([zones.list(), zones.list()]);
    at(1_000_000 + ZONES_CACHE_MS - 1);
    await zones.list();
    expect(mock.commandCalls(DescribeAvailabilityZonesCommand)).toHaveLength(1);
    at(1_000_000 + ZONES_CACHE_MS);
    mock.on(DescribeAvailabilityZonesCommand).rejects(ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    await expect(zones.list()).rejects.toBeInstanceOf(BerthError);
    mock.on(DescribeAvailabilityZonesCommand).resolves({ AvailabilityZones: [{ ZoneName: 'us-east-1c' }] });
    expect(await zones.list()).toEqual(['us-east-1c']);
    expect(mock.commandCalls(DescribeAvailabilityZonesCommand)).toHaveLength(3);
  });
});
