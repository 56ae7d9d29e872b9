import type { Volume } from '@aws-sdk/client-ec2';
import {
  TAGS,
  belongsTo,
  nameFromNameTag,
  nameTagValue,
  namespaceOf,
  oldestFirst,
  toCloudVolume,
  volumeTags,
} from '../../src/cloud/tags';
import type { CreateVolumeSpec } from '../../src/cloud/types';
import { ValidationError } from '../../src/common/errors';

const spec: CreateVolumeSpec = {
  name: 'pgdata',
  sizeGiB: 16,
  volumeType: 'gp3',
  encrypted: false,
  availabilityZone: 'us-east-1a',
  extraTags: { team: 'db' },
  format: { fsType: 'xfs', mkfsOptions: ['-b', 'size=4096'], uid: 999, gid: 998, mode: 0o750 },
};

function volumeWith(tags: Record<string, string>, extra: Partial<Volume> = {}): Volume {
  return {
    VolumeId: 'vol-1',
    Size: 16,
    VolumeType: 'gp3',
    State: 'available',
    AvailabilityZone: 'us-east-1a',
    CreateTime: new Date('2026-01-01T00:00:00Z'),
    Encrypted: false,
    Attachments: [],
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    ...extra,
  };
}

const tagsOf = (list: { Key?: string; Value?: string }[]) => Object.fromEntries(list.map((tag) => [tag.Key, tag.Value]));

describe('tags', () => {
  it('writes REX-Ray Name plus berth ownership, format and generation tags', () => {
    const tags = tagsOf(volumeTags(spec, 'prod', 3));
    expect(tags).toEqual({
      team: 'db',
      Name: 'prod/pgdata',
      'berth:namespace': 'prod',
      'berth:name': 'pgdata',
      'berth:fsType': 'xfs',
      'berth:mkfsOptions': '["-b","size=4096"]',
      'berth:uid': '999',
      'berth:gid': '998',
      'berth:mode': '0750',
      'berth:unformatted': 'true',
      'berth:generation': '3',
    });
  });

  it('uses namespace "default" and a bare Name without EBS_TAG', () => {
    const tags = tagsOf(volumeTags(spec, '', 1));
    expect(tags.Name).toBe('pgdata');
    expect(tags['berth:namespace']).toBe('default');
    expect(namespaceOf('')).toBe('default');
    expect(nameTagValue('', 'x')).toBe('x');
  });

  it.each(['Name', 'berth:name', 'aws:backup'])('refuses the reserved user tag key %s', (key) => {
    expect(() => volumeTags({ ...spec, extraTags: { [key]: 'x' } }, '', 1)).toThrow(ValidationError);
  });

  it('reads its own tags back into the same format', () => {
    const volume = toCloudVolume(volumeWith(tagsOf(volumeTags(spec, 'prod', 1)) as Record<string, string>), { ebsTag: 'prod', defaultFsType: 'ext4' });
    expect(volume.owner).toBe('berth');
    expect(volume.name).toBe('pgdata');
    expect(volume.format).toEqual(spec.format);
    expect(volume.unformatted).toBe(true);
    expect(belongsTo(volume, 'prod', false)).toBe(true);
    expect(belongsTo(volume, 'other', false)).toBe(false);
  });

  it('is formatted once the unformatted tag is gone', () => {
    const tags = tagsOf(volumeTags(spec, '', 1)) as Record<string, string>;
    delete tags[TAGS.unformatted];
    expect(toCloudVolume(volumeWith(tags), { ebsTag: '', defaultFsType: 'ext4' }).unformatted).toBe(false);
  });

  it('reads a REX-Ray volume (Name tag only) as formatted, adopted only with adoptRexray', () => {
    const volume = toCloudVolume(volumeWith({ Name: 'prod/legacy' }), { ebsTag: 'prod', defaultFsType: 'ext4' });
    expect(volume.owner).toBe('rexray');
    expect(volume.name).toBe('legacy');
    expect(volume.unformatted).toBe(false);
    expect(volume.format).toEqual({ fsType: 'ext4', mkfsOptions: [] });
    expect(belongsTo(volume, 'prod', true)).toBe(true);
    expect(belongsTo(volume, 'prod', false)).toBe(false);
    expect(belongsTo(volume, 'other', true)).toBe(false);
  });

  it('keeps Name tags of other namespaces out', () => {
    expect(nameFromNameTag('', 'prod/x')).toBeUndefined();
    expect(nameFromNameTag('prod', 'x')).toBeUndefined();
    expect(nameFromNameTag('prod', 'prod/x')).toBe('x');
  });

  it('hides retired, deleting and deleted volumes', () => {
    const tags = tagsOf(volumeTags(spec, '', 1)) as Record<string, string>;
    const parse = (volume: Volume) => toCloudVolume(volume, { ebsTag: '', defaultFsType: 'ext4' });
    expect(belongsTo(parse(volumeWith({ ...tags, [TAGS.retired]: 'retained pgdata 2026' })), '', false)).toBe(false);
    expect(belongsTo(parse(volumeWith(tags, { State: 'deleting' })), '', false)).toBe(false);
    // A REX-Ray volume that berth retired carries a berth tag and is no longer adopted.
    expect(belongsTo(parse(volumeWith({ Name: 'legacy', [TAGS.retired]: 'retained legacy 2026' })), '', true)).toBe(false);
  });

  it('reads attachments and orders duplicates oldest first', () => {
    const parse = (volume: Volume) => toCloudVolume(volume, { ebsTag: '', defaultFsType: 'ext4' });
    const a = parse(volumeWith({ Name: 'x' }, { VolumeId: 'vol-b', CreateTime: new Date(2000), Attachments: [{ InstanceId: 'i-1', Device: '/dev/xvdf', State: 'attached' }] }));
    const b = parse(volumeWith({ Name: 'x' }, { VolumeId: 'vol-a', CreateTime: new Date(3000) }));
    expect(a.attachments).toEqual([{ instanceId: 'i-1', device: '/dev/xvdf', state: 'attached' }]);
    expect([b, a].sort(oldestFirst).map((volume) => volume.volumeId)).toEqual(['vol-b', 'vol-a']);
  });
});
