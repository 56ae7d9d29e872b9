import { createHash } from 'node:crypto';
import { clientToken, createVolumeInput, moveToken } from '../../src/cloud/create-input';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('createVolumeInput', () => {
  const tags = [{ Key: 'Name', Value: 'pgdata' }];

  it('sends zone, size, encryption, token and tags, and leaves out what is not given', () => {
    expect(createVolumeInput({ availabilityZone: 'us-east-1a', sizeGiB: 20, encrypted: false, clientToken: 't', tags })).toEqual({
      AvailabilityZone: 'us-east-1a',
      Size: 20,
      Encrypted: false,
      ClientToken: 't',
      TagSpecifications: [{ ResourceType: 'volume', Tags: tags }],
    });
    const blanks = createVolumeInput({ availabilityZone: 'us-east-1a', sizeGiB: 20, volumeType: '', encrypted: true, kmsKeyId: '', snapshotId: '', clientToken: 't', tags });
    for (const absent of ['VolumeType', 'Iops', 'Throughput', 'KmsKeyId', 'SnapshotId']) expect(blanks).not.toHaveProperty(absent);
  });

  it('sends every option given', () => {
    const input = createVolumeInput({
      availabilityZone: 'us-east-1b',
      sizeGiB: 100,
      volumeType: 'io2',
      iops: 5000,
      throughput: 0,
      encrypted: true,
      kmsKeyId: 'alias/berth',
      snapshotId: 'snap-1',
      clientToken: 't',
      tags,
    });
    expect(input).toMatchObject({ VolumeType: 'io2', Iops: 5000, Throughput: 0, Encrypted: true, KmsKeyId: 'alias/berth', SnapshotId: 'snap-1' });
  });
});

describe('ClientTokens', () => {
  it('a create\'s token is hex(sha256(namespace NUL name NUL generation)), 64 characters', () => {
    expect(clientToken('prod', 'pgdata', 3)).toBe(sha256('prod\0pgdata\x003'));
    expect(clientToken('prod', 'pgdata', 3)).toHaveLength(64);
    expect(clientToken('prod', 'pgdata', 4)).not.toBe(clientToken('prod', 'pgdata', 3));
  });

  it('a move\'s token names the namespace, the name, the old volume and the zone', () => {
    expect(moveToken('prod', 'pgdata', 'vol-1', 'us-east-1b')).toBe(sha256('prod\0pgdata\0move\0vol-1\0us-east-1b'));
    expect(moveToken('prod', 'pgdata', 'vol-1', 'us-east-1c')).not.toBe(moveToken('prod', 'pgdata', 'vol-1', 'us-east-1b'));
  });
});
