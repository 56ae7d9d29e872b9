/**
 * A fake EC2 for the unit tests of the cloud parts (lookups, create, attach, zone moves, the EbsCloud facade):
 * volumes kept in a map and found by id or by tag filters, a step function per volume that moves it through
 * states as it is described, this instance's block devices, and a logger whose lines the tests can read.
 */
import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client, type DescribeVolumesCommandInput, type Volume } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { PassThrough } from 'node:stream';
import { transitionPace, type CloudConfig } from '../../src/cloud/context';
import { VolumeLookups } from '../../src/cloud/lookups';
import type { CloudParts } from '../../src/cloud/parts';
import type { CreateVolumeSpec, InstanceIdentity } from '../../src/cloud/types';
import { createLogger } from '../../src/log';

export const ME: InstanceIdentity = { instanceId: 'i-0me0000000000000a', region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 'm5.large' };
export const OTHER = 'i-0other00000000000b';

export const CONFIG: CloudConfig = {
  endpoint: '',
  region: '',
  accessKey: '',
  secretKey: '',
  metadataEndpoint: 'http://127.0.0.1:1',
  maxRetries: 1,
  callTimeoutMs: 1000,
  httpProxy: '',
  httpsProxy: '',
  noProxy: '',
  statusInitialDelayMs: 2,
  statusMaxAttempts: 1000,
  statusTimeoutMs: 3000,
  useLargeDeviceRange: false,
  tag: '',
  adoptRexray: false,
  fsType: 'ext4',
};

export const spec: CreateVolumeSpec = {
  name: 'pgdata',
  sizeGiB: 20,
  volumeType: 'gp3',
  throughput: 250,
  encrypted: false,
  availabilityZone: 'us-east-1a',
  extraTags: { team: 'db' },
  format: { fsType: 'ext4', mkfsOptions: [] },
};

export function ec2Error(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

export function berthTags(name: string, namespace = 'default', extra: Record<string, string> = {}) {
  return { Name: namespace === 'default' ? name : `${namespace}/${name}`, 'berth:namespace': namespace, 'berth:name': name, 'berth:fsType': 'ext4', ...extra };
}

export function volume(id: string, tags: Record<string, string>, extra: Partial<Volume> = {}): Volume {
  return {
    VolumeId: id,
    Size: 16,
    VolumeType: 'gp3',
    State: 'available',
    AvailabilityZone: 'us-east-1a',
    CreateTime: new Date('2026-06-01T00:00:00Z'),
    Encrypted: false,
    Attachments: [],
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...extra,
  };
}

/** The tags of a CreateVolume input's first TagSpecification, as a map. */
export function tagsOf(input: { TagSpecifications?: Array<{ Tags?: Array<{ Key?: string; Value?: string }> }> }): Record<string, string> {
  return Object.fromEntries((input.TagSpecifications?.[0]?.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

/** Does a volume match DescribeVolumes filters (tag:K exact or trailing *, tag-key)? */
function matches(v: Volume, filters: DescribeVolumesCommandInput['Filters']): boolean {
  const tags = Object.fromEntries((v.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
  return (filters ?? []).every((filter) => {
    const values = filter.Values ?? [];
    if (filter.Name === 'volume-id') return values.includes(v.VolumeId ?? '');
    if (filter.Name === 'tag-key') return values.some((key) => key in tags);
    const key = filter.Name?.replace(/^tag:/, '') ?? '';
    const value = tags[key];
    return value !== undefined && values.some((wanted) => (wanted.endsWith('*') ? value.startsWith(wanted.slice(0, -1)) : value === wanted));
  });
}

export type FakeEc2 = ReturnType<typeof fakeEc2>;

export function fakeEc2(config: Partial<CloudConfig> = {}) {
  const ec2 = new EC2Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
  const mock = mockClient(ec2);
  const volumes = new Map<string, Volume>();
  /** Called on every describe of a volume, by id or by filters: lets a test move it through states. */
  const evolve = new Map<string, (v: Volume, polls: number) => Volume>();
  const polls = new Map<string, number>();
  const look = (id: string, v: Volume): Volume => {
    const count = (polls.get(id) ?? 0) + 1;
    polls.set(id, count);
    const step = evolve.get(id);
    if (!step) return v;
    const next = step(v, count);
    volumes.set(id, next);
    return next;
  };
  mock.on(DescribeVolumesCommand).callsFake((input: DescribeVolumesCommandInput) => {
    if (input.VolumeIds) {
      const found: Volume[] = [];
      for (const id of input.VolumeIds) {
        const v = volumes.get(id);
        if (!v) throw ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
        found.push(look(id, v));
      }
      return { Volumes: found };
    }
    return { Volumes: [...volumes].filter(([, v]) => matches(v, input.Filters)).map(([id, v]) => look(id, v)) };
  });
  mock.on(DescribeInstancesCommand).resolves({
    Reservations: [{ Instances: [{ InstanceId: ME.instanceId, BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }, { DeviceName: '/dev/sdf' }] }] }],
  });
  const output = new PassThrough();
  const lines: string[] = [];
  output.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const logger = createLogger({ level: 'debug', stream: output });
  const signal = () => AbortSignal.timeout(10_000);
  return { ec2, mock, volumes, evolve, lines, logger, identity: ME, config: { ...CONFIG, ...config }, signal };
}

/** fakeEc2, with the look-ups (batching for 5 ms) and everything the cloud's parts are given. */
export function fakeCloudParts(config: Partial<CloudConfig> = {}) {
  const fake = fakeEc2(config);
  const lookups = new VolumeLookups({ ec2: fake.ec2, config: fake.config, logger: fake.logger, batchWindowMs: 5 });
  const parts: CloudParts = { ec2: fake.ec2, identity: fake.identity, config: fake.config, logger: fake.logger, lookups, pace: transitionPace(fake.config) };
  return { ...fake, lookups, parts };
}
