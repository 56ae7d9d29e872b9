/** local-ec2's pure helpers: command-line parsing, pagination, filters and volume limits. */
import { parseDelays, parseDuration, parseInstanceSpec } from '../../src/localec2/cli-options';
import { Ec2Error } from '../../src/localec2/ec2-error';
import { applyFilters, paginate } from '../../src/localec2/filters';
import { regionOfZone, zoneIdOf } from '../../src/localec2/ids';
import { parseListenAddress } from '../../src/localec2/listen';
import { resolveVolumeSpec } from '../../src/localec2/volume-types';

describe('local-ec2 command line', () => {
  it('parses instance specs with every field', () => {
    expect(parseInstanceSpec('id=i-0123456789abcdef0,az=eu-west-2b,imds=unix:/run/imds.sock,devdir=/d,devices=nitro,imdsv2=required,type=c5.xlarge,maxvolumes=4,role=r')).toEqual({
      id: 'i-0123456789abcdef0',
      az: 'eu-west-2b',
      imds: 'unix:/run/imds.sock',
      devdir: '/d',
      devices: 'nitro',
      imdsv2: 'required',
      type: 'c5.xlarge',
      maxVolumes: 4,
      role: 'r',
    });
    expect(parseInstanceSpec('')).toEqual({});
    expect(parseInstanceSpec('hoplimit=2')).toEqual({ hopLimit: 2 });
    expect(() => parseInstanceSpec('hoplimit=65')).toThrow(/hoplimit must be a whole number from 1 to 64/);
    expect(() => parseInstanceSpec('id=i-123')).toThrow(/17 hex/);
    expect(() => parseInstanceSpec('az=mars')).toThrow(/zone name/);
  });

  it('parses delays and durations', () => {
    expect(parseDelays('create=1s,attach=2s,detach=1s,delete=0,modify=0,snapshot=0')).toEqual({ create: 1000, attach: 2000, detach: 1000, delete: 0, modify: 0, snapshot: 0 });
    expect(parseDelays('realistic,attach=250ms')).toMatchObject({ create: 2000, attach: 250 });
    expect(parseDelays('instance=2s')).toEqual({ instance: 2000 });
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(() => parseDelays('mount=1s')).toThrow(/--delays entry/);
  });

  it('listens on loopback or unix sockets only', () => {
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:8080')).toEqual({ kind: 'tcp', host: '::1', port: 8080 });
    expect(parseListenAddress('unix:/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(() => parseListenAddress('0.0.0.0:80')).toThrow(/loopback/);
    expect(() => parseListenAddress('169.254.169.254:80')).toThrow(/loopback/);
  });
});

describe('local-ec2 zones', () => {
  it('derives region and zone id from a zone name', () => {
    expect(regionOfZone('us-east-1a')).toBe('us-east-1');
    expect(regionOfZone('ap-southeast-2c')).toBe('ap-southeast-2');
    expect(zoneIdOf('us-east-1a')).toBe('use1-az1');
    expect(zoneIdOf('eu-west-2c')).toBe('euw2-az3');
  });
});

describe('local-ec2 pagination and filters', () => {
  const items = Array.from({ length: 1203 }, (_, i) => ({ id: `vol-${String(i).padStart(17, '0')}` }));

  it('caps a page and continues after the last id returned', () => {
    const first = paginate(items, (item) => item.id, 1000, undefined, 500);
    expect(first.items).toHaveLength(500);
    const second = paginate(items, (item) => item.id, 1000, first.nextToken, 500);
    expect(second.items[0].id).toBe(items[500].id);
    const third = paginate(items, (item) => item.id, 1000, second.nextToken, 500);
    expect(third.items[0].id).toBe(items[1000].id);
    expect(third.items).toHaveLength(203);
    expect(third.nextToken).toBeUndefined();
    expect(() => paginate(items, (item) => item.id, 5, 'garbage', 500)).toThrow(Ec2Error);
  });

  it('matches wildcards and ANDs filters, ORs values', () => {
    const volumes = [
      { id: 'a', tags: { Name: 'db-1', env: 'prod' } },
      { id: 'b', tags: { Name: 'db-2', env: 'dev' } },
      { id: 'c', tags: { Name: 'web*1' } },
    ];
    const field = (volume: (typeof volumes)[number], name: string) =>
      name.startsWith('tag:') ? [(volume.tags as Record<string, string>)[name.slice(4)]].filter((v) => v !== undefined) : undefined;
    const ids = (filters: { name: string; values: string[] }[]) => applyFilters(volumes, filters, field, []).map((v) => v.id);
    expect(ids([{ name: 'tag:Name', values: ['db-*'] }])).toEqual(['a', 'b']);
    expect(ids([{ name: 'tag:Name', values: ['db-?'] }, { name: 'tag:env', values: ['prod', 'qa'] }])).toEqual(['a']);
    expect(ids([{ name: 'tag:Name', values: ['web\\*1'] }])).toEqual(['c']);
    expect(() => ids([{ name: 'colour', values: ['x'] }])).toThrow(/filter 'colour' is invalid/);
  });
});

describe('local-ec2 volume limits', () => {
  it('fills in what EC2 reports and enforces ratios at the edges', () => {
    expect(resolveVolumeSpec({ volumeType: 'gp3', sizeGiB: 1 })).toEqual({ volumeType: 'gp3', sizeGiB: 1, iops: 3000, throughput: 125 });
    expect(resolveVolumeSpec({ volumeType: 'gp2', sizeGiB: 10000 }).iops).toBe(16000);
    expect(resolveVolumeSpec({ volumeType: 'gp3', sizeGiB: 160, iops: 80000, throughput: 2000 }).iops).toBe(80000);
    expect(() => resolveVolumeSpec({ volumeType: 'gp3', sizeGiB: 159, iops: 80000 })).toThrow(/ratio/);
    expect(resolveVolumeSpec({ volumeType: 'gp3', sizeGiB: 8, iops: 3000, throughput: 750 }).throughput).toBe(750);
    expect(resolveVolumeSpec({ volumeType: 'io1', sizeGiB: 4, iops: 200 }).iops).toBe(200);
    expect(() => resolveVolumeSpec({ volumeType: 'io1', sizeGiB: 4, iops: 201 })).toThrow(/ratio/);
  });
});
