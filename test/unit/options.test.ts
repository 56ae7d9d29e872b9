import { ValidationError } from '../../src/common/errors';
import { parseCreateOptions } from '../../src/volumes/options';
import type { CreateDefaults } from '../../src/volumes/options/defaults';
import { CreateOptionsError } from '../../src/volumes/options/problems';
import type { ParsedCreateOptions } from '../../src/volumes/options/rules';
import { CREATE_OPTIONS } from '../../src/volumes/options/table';
import { MKFS_ALLOW_LIST } from '../../src/volumes/mkfs-options';

const defaults: CreateDefaults = {
  availabilityZone: 'us-east-1c',
  fsType: 'ext4',
  kmsKeyId: '',
  volumeFileMode: 0o755,
};

const KEY_UUID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY_UUID}`;

function parse(opts: Record<string, string> | null | undefined, overrides: Partial<CreateDefaults> = {}): ParsedCreateOptions {
  return parseCreateOptions('vol1', opts, { ...defaults, ...overrides });
}

function failure(opts: unknown, overrides: Partial<CreateDefaults> = {}): CreateOptionsError {
  try {
    parseCreateOptions('vol1', opts as Record<string, string>, { ...defaults, ...overrides });
  } catch (err) {
    expect(err).toBeInstanceOf(CreateOptionsError);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid-option');
    return err as CreateOptionsError;
  }
  throw new Error(`options ${JSON.stringify(opts)} were accepted`);
}

/** The single problem of a failed parse: its field and message. */
function problem(opts: unknown, overrides: Partial<CreateDefaults> = {}): { field: string; message: string } {
  const err = failure(opts, overrides);
  expect(err.problems).toHaveLength(1);
  expect(err.field).toBe(err.problems[0].field);
  expect(err.message).toBe(err.problems[0].message);
  return err.problems[0];
}

describe('parseCreateOptions defaults', () => {
  it.each([null, undefined, {}])('gives a 16 GiB gp3 ext4 volume in this AZ for %j', (opts) => {
    expect(parse(opts as Record<string, string> | null)).toEqual({
      spec: {
        name: 'vol1',
        sizeGiB: 16,
        volumeType: 'gp3',
        encrypted: false,
        availabilityZone: 'us-east-1c',
        extraTags: {},
        format: { fsType: 'ext4', mkfsOptions: [], mode: 0o755 },
      },
      crossAZ: 'refuse',
      sizeDefaulted: true,
    });
  });

  it('takes fsType and mode from the configured defaults', () => {
    const { spec } = parse(null, { fsType: 'xfs', volumeFileMode: 0o700 });
    expect(spec.format).toEqual({ fsType: 'xfs', mkfsOptions: [], mode: 0o700 });
  });

  it('leaves uid, gid, iops, throughput, kmsKeyId and snapshotId out unless given', () => {
    const { spec } = parse({ size: '20' });
    for (const absent of ['iops', 'throughput', 'kmsKeyId', 'snapshotId']) expect(spec).not.toHaveProperty(absent);
    expect(spec.format).not.toHaveProperty('uid');
    expect(spec.format).not.toHaveProperty('gid');
  });
});

describe('keys', () => {
  it.each(['size', 'Size', 'SIZE', 'sIzE'])('are case-insensitive: %s', (key) => {
    expect(parse({ [key]: '20' }).spec.sizeGiB).toBe(20);
  });

  it('accept every alias, in any case', () => {
    const { spec } = parse({
      TYPE: 'io2',
      iops: '1000',
      encryptionkey: KEY_UUID,
      AZ: 'us-east-1b',
      SnapshotID: 'snap-0123456789abcdef0',
    });
    expect(spec).toMatchObject({
      volumeType: 'io2',
      kmsKeyId: KEY_UUID,
      encrypted: true,
      availabilityZone: 'us-east-1b',
      snapshotId: 'snap-0123456789abcdef0',
    });
  });

  it('trim values', () => {
    const { spec } = parse({ size: '  32 ', volumeType: '\tgp2\n' });
    expect(spec).toMatchObject({ sizeGiB: 32, volumeType: 'gp2' });
  });

  it('refuse an unknown key, naming it, suggesting the near miss and listing every option', () => {
    const { field, message } = problem({ sizee: '20' });
    expect(field).toBe('sizee');
    expect(message).toMatch(/^invalid option "sizee" \(did you mean size\?\): allowed options are size, volumeType \(type\), iops, /);
    for (const option of CREATE_OPTIONS) expect(message).toContain(option.name);
  });

  it('suggest the alias the user was close to', () => {
    expect(problem({ encryptionkeys: KEY_UUID }).message).toContain('did you mean encryptionKey?');
  });

  it('list several unknown keys once, without a suggestion when nothing is close', () => {
    const { field, message } = problem({ colour: 'red', flavour: 'mint' });
    expect(field).toBe('colour');
    expect(message).toMatch(/^invalid options "colour", "flavour": allowed options are /);
    expect(message).not.toContain('did you mean');
  });

  it('name a few of tens of thousands of unknown keys, and suggest quickly for a megabyte-long key', () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 70_000; i++) many[`size${i}`] = '';
    const started = Date.now();
    const { field, message } = problem(many);
    expect(field).toBe('size0');
    expect(message).toMatch(/^invalid options "size0" \(did you mean size\?\), "size1" \(did you mean size\?\), .*"size7" \(did you mean size\?\) and 69992 more: allowed options are size, /);
    expect(message.length).toBeLessThan(2_000);
    expect(problem({ ['k'.repeat(1_000_000)]: 'v' }).message).toMatch(/^invalid option "k{80}…" \(1000000 characters\): allowed options are /);
    // Each took one to two seconds of the daemon's only thread before.
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('refuse prototype keys such as "__proto__" and "constructor" like any other unknown key', () => {
    const opts: Record<string, string> = Object.assign(Object.create(null), JSON.parse('{"__proto__":"x","size":"5"}'));
    expect(problem(opts).message).toMatch(/^invalid option "__proto__": allowed options are /);
    expect(problem({ constructor: 'x' }).message).toMatch(/^invalid option "constructor"/);
  });

  it('refuse an alias and its name given with different values', () => {
    const { field, message } = problem({ volumeType: 'gp3', type: 'gp2' });
    expect(field).toBe('type');
    expect(message).toBe('type: given twice with different values: volumeType=gp3 and type=gp2');
  });

  it('accept an alias and its name given with the same value', () => {
    expect(parse({ volumeType: 'io1', type: 'io1', iops: '100' }).spec.volumeType).toBe('io1');
  });

  it('refuse one key in two cases with different values', () => {
    expect(problem({ size: '10', SIZE: '20' }).message).toBe('SIZE: given twice with different values: size=10 and SIZE=20');
  });

  it.each(['', '   '])('refuse an empty value %j, saying what is allowed', (value) => {
    expect(problem({ iops: value })).toEqual({
      field: 'iops',
      message: expect.stringMatching(/^iops: no value given; allowed: a whole number/),
    });
  });

  it('refuse values that are not strings', () => {
    expect(problem({ size: 20 }).message).toBe('size: the value must be a string, not number');
  });

  it.each([[['size=1']], ['size=1'], [42]])('refuse Opts that are not a map: %j', (opts) => {
    expect(problem(opts)).toEqual({ field: 'Opts', message: 'Opts: volume options must be a map of strings (key=value)' });
  });

  it('do not treat inherited object keys as options', () => {
    const opts = JSON.parse('{"__proto__": "x", "constructor": "y"}') as Record<string, string>;
    expect(problem(opts).message).toMatch(/^invalid options "__proto__", "constructor"/);
  });
});

describe('size', () => {
  it.each([
    ['1', 1],
    ['20', 20],
    ['020', 20],
    ['65536', 65536],
    ['20Gi', 20],
    ['20GiB', 20],
    ['20G', 20],
    ['20g', 20],
    ['20 GiB', 20],
    ['2Ti', 2048],
    ['2TiB', 2048],
    ['2T', 2048],
    ['1.5Ti', 1536],
    ['0.5TiB', 512],
    ['64Ti', 65536],
  ])('accepts %j as %d GiB', (value, gib) => {
    const parsed = parse({ size: value });
    expect(parsed.spec.sizeGiB).toBe(gib);
    expect(parsed.sizeDefaulted).toBe(false);
  });

  it.each([
    ['abc', /^size: "abc" is not a whole number of GiB \(e\.g\. size=20/],
    ['1.5', /"1\.5" is not a whole number of GiB/],
    ['1.5G', /"1\.5G" is not a whole number of GiB/],
    ['0.1Ti', /"0\.1Ti" is not a whole number of GiB/],
    ['-5', /"-5" is not a whole number of GiB/],
    ['+5', /"\+5" is not a whole number of GiB/],
    ['1e3', /"1e3" is not a whole number of GiB/],
    ['20GB', /unit "GB" in "20GB" is not accepted: sizes are in GiB, optionally written with Gi, GiB, G, Ti, TiB or T/],
    ['20MiB', /unit "MiB" in "20MiB" is not accepted/],
    ['1PiB', /unit "PiB"/],
    ['0', /"0" is too small: the minimum is 1 GiB/],
    ['0Ti', /too small/],
    ['65537', /"65537" is too large: the maximum is 65536 GiB \(64 TiB\)/],
    ['65Ti', /too large/],
    ['99999999999999999999999', /too large/],
  ])('refuses %j', (value, message) => {
    const { field, message: text } = problem({ size: value });
    expect(field).toBe('size');
    expect(text).toMatch(message);
  });

  it('names the key as typed', () => {
    expect(problem({ Size: 'big' }).message).toMatch(/^Size: "big" is not a whole number of GiB/);
  });
});

describe('volumeType and type minimums', () => {
  it.each(['gp3', 'gp2', 'st1', 'sc1', 'standard', 'GP2', 'Standard'])('accepts %s', (type) => {
    const size = type.toLowerCase().endsWith('1') ? '125' : '20';
    expect(parse({ volumeType: type, size }).spec.volumeType).toBe(type.toLowerCase());
  });

  it.each(['gp4', 'ssd', 'io3', 'magnetic'])('refuses %s, listing the types', (type) => {
    expect(problem({ type })).toEqual({
      field: 'type',
      message: `type: "${type}" is not an EBS volume type; allowed: gp3, gp2, io1, io2, st1, sc1, standard`,
    });
  });

  it.each(['st1', 'sc1'])('refuses %s with 100 GiB', (type) => {
    expect(problem({ volumeType: type, size: '100' })).toEqual({
      field: 'size',
      message: `size: ${type} volumes need at least 125 GiB, not 100`,
    });
  });

  it('explains that the 16 GiB default is too small for st1', () => {
    expect(problem({ volumeType: 'st1' })).toEqual({
      field: 'size',
      message: 'size: st1 volumes need at least 125 GiB, not 16 (size defaults to 16: give size=125 or more)',
    });
  });

  it.each(['io1', 'io2'])('refuses %s below 4 GiB and accepts 4', (type) => {
    expect(problem({ type, size: '3', iops: '100' }).message).toBe(`size: ${type} volumes need at least 4 GiB, not 3`);
    expect(parse({ type, size: '4', iops: '100' }).spec.sizeGiB).toBe(4);
  });

  it('accepts st1 with exactly 125 GiB', () => {
    expect(parse({ volumeType: 'st1', size: '125' }).spec).toMatchObject({ volumeType: 'st1', sizeGiB: 125 });
  });
});

describe('iops', () => {
  it.each([
    ['gp3', '3000'],
    ['gp3', '16000'],
    ['io1', '100'],
    ['io2', '64000'],
  ])('accepts %s with %s', (type, iops) => {
    expect(parse({ type, iops }).spec).toMatchObject({ volumeType: type, iops: Number(iops) });
  });

  it('leaves the gp3 maximum to EC2', () => {
    expect(parse({ iops: '80000' }).spec.iops).toBe(80000);
  });

  it.each(['gp2', 'st1', 'sc1', 'standard'])('refuses iops with %s', (type) => {
    expect(problem({ type, size: '500', iops: '3000' })).toEqual({
      field: 'iops',
      message: `iops: ${type} volumes take no iops setting (only gp3, io1, io2 do)`,
    });
  });

  it.each(['io1', 'io2'])('requires iops for %s', (type) => {
    expect(problem({ type })).toEqual({ field: 'iops', message: `iops: ${type} volumes need iops (100 or more, e.g. iops=1000)` });
  });

  it('enforces the gp3 minimum of 3000 and the io1 minimum of 100', () => {
    expect(problem({ iops: '2999' }).message).toBe('iops: gp3 volumes need at least 3000 IOPS, not 2999');
    expect(problem({ type: 'io1', iops: '99' }).message).toBe('iops: io1 volumes need at least 100 IOPS, not 99');
  });

  it.each(['abc', '3000.5', '-3000', '3e3', '0x10'])('refuses the non-integer %j', (iops) => {
    expect(problem({ IOPS: iops }).message).toBe(`IOPS: ${JSON.stringify(iops)} is not a whole number (e.g. iops=3000)`);
  });

  it('refuses absurdly large values', () => {
    expect(problem({ iops: '99999999999' }).message).toBe('iops: "99999999999" is far too large (e.g. iops=3000)');
  });
});

describe('throughput', () => {
  it('accepts gp3 throughput, leaving the maximum to EC2', () => {
    expect(parse({ throughput: '125' }).spec.throughput).toBe(125);
    expect(parse({ throughput: '2000', iops: '8000' }).spec).toMatchObject({ throughput: 2000, iops: 8000 });
  });

  it('refuses throughput below 125', () => {
    expect(problem({ throughput: '100' })).toEqual({ field: 'throughput', message: 'throughput: gp3 volumes need at least 125 MiB/s, not 100' });
  });

  it.each(['io1', 'gp2', 'st1'])('refuses throughput with %s', (type) => {
    const opts: Record<string, string> = { type, throughput: '250', size: '500' };
    if (type === 'io1') opts.iops = '1000';
    expect(problem(opts).message).toBe(`throughput: ${type} volumes take no throughput setting (only gp3 does)`);
  });

  it('refuses a non-integer', () => {
    expect(problem({ throughput: '250MiB' }).message).toBe('throughput: "250MiB" is not a whole number (e.g. throughput=250)');
  });
});

describe('encrypted and kmsKeyId', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['yes', true],
    ['Yes', true],
    ['1', true],
    ['false', false],
    ['no', false],
    ['0', false],
  ])('encrypted=%s is %s', (value, expected) => {
    expect(parse({ encrypted: value }).spec.encrypted).toBe(expected);
  });

  it.each(['ture', 'on', 'off', 'y', '2', 'enabled'])('refuses encrypted=%s instead of ignoring it as REX-Ray did', (value) => {
    expect(problem({ encrypted: value })).toEqual({
      field: 'encrypted',
      message: `encrypted: "${value}" is not true or false; allowed: true, yes, 1, false, no, 0`,
    });
  });

  it('uses the configured key for encrypted=true and when encrypted is not given', () => {
    expect(parse({ encrypted: 'true' }, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: KEY_ARN });
    expect(parse(null, { kmsKeyId: KEY_ARN }).spec.kmsKeyId).toBe(KEY_ARN);
    expect(parse(null, { kmsKeyId: KEY_ARN }).spec.encrypted).toBe(true);
  });

  it("leaves the key out when none is configured (the account's default key)", () => {
    const { spec } = parse({ encrypted: 'yes' });
    expect(spec.encrypted).toBe(true);
    expect(spec).not.toHaveProperty('kmsKeyId');
  });

  it('a key implies encrypted and wins over the configured key', () => {
    expect(parse({ kmsKeyId: 'alias/backup' }, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: 'alias/backup' });
    expect(parse({ encryptionKey: KEY_UUID, encrypted: 'true' }).spec).toMatchObject({ encrypted: true, kmsKeyId: KEY_UUID });
  });

  it('refuses encrypted=false with a key', () => {
    expect(problem({ encrypted: 'false', encryptionKey: KEY_UUID })).toEqual({
      field: 'encryptionKey',
      message: 'encryptionKey: a KMS key encrypts the volume, but encrypted=false: remove one of them',
    });
  });

  it.each([
    KEY_UUID,
    'mrk-1234abcd12ab34cd56ef1234567890ab',
    'alias/aws/ebs',
    'alias/my_key-1',
    KEY_ARN,
    'arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab',
    'arn:aws:kms:us-east-1:111122223333:alias/my-key',
    `arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/${KEY_UUID}`,
  ])('accepts the key %s', (key) => {
    expect(parse({ kmsKeyId: key }).spec.kmsKeyId).toBe(key);
  });

  it.each(['my-key', '1234', 'alias/', 'alias/with space', 'arn:aws:kms:us-east-1:1111:key/x', `key/${KEY_UUID}`])(
    'refuses the key %j, which EC2 would accept and fail later',
    (key) => {
      expect(problem({ kmsKeyId: key }).message).toMatch(/^kmsKeyId: ".*" is not a KMS key: give a key id/);
    },
  );
});

describe('EBS_KMSKEYID: every default decided here, as EC2 gets it', () => {
  const refusal = (typed: string) =>
    `encrypted: this plugin encrypts every volume with EBS_KMSKEYID (${KEY_ARN}), so it cannot make an unencrypted one: ` +
    `remove encrypted=${typed}, or unset EBS_KMSKEYID in the plugin's settings`;

  it('encrypts a volume without an encrypted option with that key', () => {
    for (const opts of [null, {}, { size: '20' }] as Array<Record<string, string> | null>) {
      expect(parse(opts, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: KEY_ARN });
    }
    expect(parse(null, { kmsKeyId: 'alias/berth' }).spec).toMatchObject({ encrypted: true, kmsKeyId: 'alias/berth' });
  });

  it.each(['false', 'no', '0', 'FALSE', ' No '])('refuses encrypted=%j, naming EBS_KMSKEYID and what to do', (value) => {
    expect(problem({ encrypted: value }, { kmsKeyId: KEY_ARN })).toEqual({ field: 'encrypted', message: refusal(value.trim()) });
  });

  it('names the key as typed and reports the refusal with the other problems', () => {
    expect(problem({ Encrypted: 'false' }, { kmsKeyId: KEY_ARN }).field).toBe('Encrypted');
    const err = failure({ encrypted: 'false', size: 'lots' }, { kmsKeyId: KEY_ARN });
    expect(err.problems.map((p) => p.field)).toEqual(['size', 'encrypted']);
    expect(err.field).toBe('size');
    expect(err.problems[1].message).toBe(refusal('false'));
  });

  it('lets an explicit kmsKeyId win over it', () => {
    expect(parse({ kmsKeyId: 'alias/backup' }, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: 'alias/backup' });
    expect(parse({ encrypted: 'yes', encryptionKey: KEY_UUID }, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: KEY_UUID });
  });

  it("encrypted=true uses it when set, else the account's default EBS key (no kmsKeyId in the spec)", () => {
    expect(parse({ encrypted: 'true' }, { kmsKeyId: KEY_ARN }).spec).toMatchObject({ encrypted: true, kmsKeyId: KEY_ARN });
    const { spec } = parse({ encrypted: 'true' }, { kmsKeyId: '' });
    expect(spec.encrypted).toBe(true);
    expect(spec).not.toHaveProperty('kmsKeyId');
  });

  it('without it, no options and encrypted=false both give an unencrypted volume', () => {
    for (const opts of [null, { encrypted: 'false' }] as Array<Record<string, string> | null>) {
      const { spec } = parse(opts, { kmsKeyId: '' });
      expect(spec.encrypted).toBe(false);
      expect(spec).not.toHaveProperty('kmsKeyId');
    }
  });

  it('still refuses kmsKeyId with encrypted=false, once, naming the key option', () => {
    const err = failure({ encryptionKey: KEY_UUID, encrypted: 'no' }, { kmsKeyId: KEY_ARN });
    expect(err.problems).toEqual([
      { field: 'encryptionKey', message: 'encryptionKey: a KMS key encrypts the volume, but encrypted=no: remove one of them' },
    ]);
  });
});

describe('availabilityZone and az', () => {
  it('refuses a zone the region does not have, listing the ones it has, once they are known', () => {
    const regionZones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
    expect(problem({ az: 'us-east-1z' }, { regionZones })).toEqual({
      field: 'az',
      message: 'az: us-east-1z is not an availability zone of this region; its zones are us-east-1a, us-east-1b, us-east-1c',
    });
    expect(parse({ az: 'us-east-1b' }, { regionZones }).spec.availabilityZone).toBe('us-east-1b');
  });

  it.each(['us-east-1a', 'US-EAST-1F', 'us-east-1z'])('accepts %s in this region', (zone) => {
    expect(parse({ availabilityZone: zone }).spec.availabilityZone).toBe(zone.toLowerCase());
  });

  it('accepts GovCloud and China zone names in their own regions', () => {
    expect(parse({ az: 'us-gov-west-1b' }, { availabilityZone: 'us-gov-west-1a' }).spec.availabilityZone).toBe('us-gov-west-1b');
    expect(parse({ az: 'cn-north-1a' }, { availabilityZone: 'cn-north-1b' }).spec.availabilityZone).toBe('cn-north-1a');
  });

  it.each(['us-east-1', 'useast1a', 'us-east-a', 'us-west-2-lax-1a', 'zone a'])('refuses %j', (zone) => {
    expect(problem({ az: zone })).toEqual({
      field: 'az',
      message: `az: ${JSON.stringify(zone)} is not an availability zone name such as us-east-1a`,
    });
  });

  it("refuses a zone outside this instance's region", () => {
    expect(problem({ availabilityZone: 'eu-west-1a' }).message).toBe(
      "availabilityZone: eu-west-1a is not in this instance's region us-east-1 (e.g. us-east-1c)",
    );
    expect(problem({ az: 'us-east-2a' }).message).toMatch(/not in this instance's region us-east-1/);
  });
});

describe('snapshot and snapshotId', () => {
  it.each(['snap-01234567', 'snap-0123456789abcdef0', 'SNAP-0123456789ABCDEF0'])('accepts %s', (id) => {
    expect(parse({ snapshot: id }).spec.snapshotId).toBe(id.toLowerCase());
  });

  it.each(['snap-123', 'snap-0123456789abcdef', 'vol-0123456789abcdef0', 'snap-0123456g', 'snap-0123456789abcdef01'])(
    'refuses %s',
    (id) => {
      expect(problem({ snapshotId: id })).toEqual({
        field: 'snapshotId',
        message: `snapshotId: "${id}" is not a snapshot id such as snap-0123456789abcdef0`,
      });
    },
  );

  it('reports whether size was defaulted, since EC2 would otherwise use the snapshot size', () => {
    expect(parse({ snapshot: 'snap-01234567' }).sizeDefaulted).toBe(true);
    expect(parse({ snapshot: 'snap-01234567', size: '100' }).sizeDefaulted).toBe(false);
  });
});

describe('tags', () => {
  it('parses key=value pairs, trimming around commas and "="', () => {
    expect(parse({ tags: 'team=db, backup = daily ,cost-center=42' }).spec.extraTags).toEqual({
      team: 'db',
      backup: 'daily',
      'cost-center': '42',
    });
  });

  it('keeps "=" inside values, allows empty values and ignores empty entries', () => {
    expect(parse({ tags: 'query=a=b,empty=,,' }).spec.extraTags).toEqual({ query: 'a=b', empty: '' });
  });

  it('accepts the limits: 128-character keys, 256-character values, 40 tags', () => {
    const long = { ['k'.repeat(128)]: 'v'.repeat(256) };
    expect(parse({ tags: `${'k'.repeat(128)}=${'v'.repeat(256)}` }).spec.extraTags).toEqual(long);
    const forty = Array.from({ length: 40 }, (_, i) => `t${i}=${i}`).join(',');
    expect(Object.keys(parse({ tags: forty }).spec.extraTags)).toHaveLength(40);
  });

  it.each([
    ['team', /"team" has no "=": write key=value/],
    ['=value', /"=value" has an empty key/],
    [`${'k'.repeat(129)}=v`, /is longer than 128 characters/],
    [`k=${'v'.repeat(257)}`, /the value of "k" is longer than 256 characters/],
    ['aws:cloudformation:stack=x', /key "aws:cloudformation:stack" uses the reserved prefix "aws:"/],
    ['AWS:x=y', /reserved prefix "aws:"/],
    ['berth:owner=me', /reserved prefix "berth:"/],
    ['Name=other', /key "Name" is reserved: berth sets the Name tag to the volume name/],
    ['name=other', /key "name" is reserved/],
    ['a=1,a=2', /key "a" is given twice/],
    ['a=x\u0001y', /tag "a" contains a control character/],
    [Array.from({ length: 41 }, (_, i) => `t${i}=${i}`).join(','), /41 tags given: at most 40 are allowed/],
  ])('refuses %j', (tags, message) => {
    const { field, message: text } = problem({ Tags: tags });
    expect(field).toBe('Tags');
    expect(text).toMatch(/^Tags: /);
    expect(text).toMatch(message);
  });
});

describe('fsType and mkfsOptions', () => {
  it('overrides the configured filesystem', () => {
    expect(parse({ fsType: 'XFS' }).spec.format.fsType).toBe('xfs');
    expect(parse({ fstype: 'ext4' }, { fsType: 'xfs' }).spec.format.fsType).toBe('ext4');
  });

  it.each(['btrfs', 'ext3', 'ntfs'])('refuses fsType=%s', (fs) => {
    expect(problem({ fsType: fs }).message).toBe(`fsType: "${fs}" is not a supported filesystem; allowed: ext4, xfs`);
  });

  it('turns allowed ext4 options into an argv array in the order given', () => {
    expect(parse({ mkfsOptions: ' -b 4096  -I 512 -i 16384 -m 0 ' }).spec.format.mkfsOptions).toEqual([
      '-b', '4096', '-I', '512', '-i', '16384', '-m', '0',
    ]);
  });

  it('accepts the edges mke2fs accepts: inode size equal to a 1024-byte block, -i just above the inode size', () => {
    expect(parse({ mkfsOptions: '-b 1024 -I 1024' }).spec.format.mkfsOptions).toEqual(['-b', '1024', '-I', '1024']);
    expect(parse({ mkfsOptions: '-I 512 -i 1024' }).spec.format.mkfsOptions).toEqual(['-I', '512', '-i', '1024']);
    expect(parse({ mkfsOptions: '-i 67108864' }).spec.format.mkfsOptions).toEqual(['-i', '67108864']);
  });

  it('turns allowed xfs options into an argv array', () => {
    expect(parse({ fsType: 'xfs', mkfsOptions: '-b size=4096 -i size=1024 -m crc=1' }).spec.format.mkfsOptions).toEqual([
      '-b', 'size=4096', '-i', 'size=1024', '-m', 'crc=1',
    ]);
    expect(parse({ fsType: 'xfs', mkfsOptions: '-m crc=0 -b size=512 -i size=256' }).spec.format.mkfsOptions).toEqual([
      '-m', 'crc=0', '-b', 'size=512', '-i', 'size=256',
    ]);
    expect(parse({ fsType: 'xfs', mkfsOptions: '-b size=65536 -i size=2048' }).spec.format.mkfsOptions).toEqual([
      '-b', 'size=65536', '-i', 'size=2048',
    ]);
    expect(parse({ fsType: 'xfs', mkfsOptions: '-m crc=0 -b size=512' }).spec.format.mkfsOptions).toEqual(['-m', 'crc=0', '-b', 'size=512']);
  });

  it('checks options against the filesystem actually used, including the configured default', () => {
    expect(parse({ mkfsOptions: '-b size=4096' }, { fsType: 'xfs' }).spec.format.mkfsOptions).toEqual(['-b', 'size=4096']);
    expect(problem({ mkfsOptions: '-b size=4096' }).message).toBe(
      'mkfsOptions: "-b size=4096" is not allowed: for ext4, -b takes 1024|2048|4096',
    );
  });

  it('refuses an ext4 flag outside the allow-list, listing what ext4 allows', () => {
    const { field, message } = problem({ MkfsOptions: '-E lazy_itable_init=0' });
    expect(field).toBe('MkfsOptions');
    expect(message).toBe(
      'MkfsOptions: "-E" is not allowed; allowed for ext4: -b 1024|2048|4096 (block size in bytes), ' +
        '-I 128|256|512|1024 (inode size in bytes), -i 1024..67108864 (bytes per inode), ' +
        '-m 0..50 (percent of blocks reserved for root)',
    );
  });

  it('refuses ext4 flags on xfs, listing what xfs allows', () => {
    const { message } = problem({ fsType: 'xfs', mkfsOptions: '-I 512' });
    expect(message).toMatch(/^mkfsOptions: "-I" is not allowed; allowed for xfs: -b size=512\.\.65536 \(a power of two\)/);
    expect(message).toContain('-i size=256|512|1024|2048');
    expect(message).toContain('-m crc=0|1');
  });

  it.each([
    ['ext4', '-b 8192', /"-b 8192" is not allowed: for ext4, -b takes 1024\|2048\|4096/],
    ['ext4', '-I 2048', /-I takes 128\|256\|512\|1024/],
    ['ext4', '-i 512', /-i takes 1024\.\.67108864/],
    ['ext4', '-i 67108865', /-i takes 1024\.\.67108864/],
    ['ext4', '-N 100000', /"-N" is not allowed/],
    ['ext4', '-I 1024 -i 1024', /-i 1024 must be larger than the inode size 1024: inode tables would fill the disk/],
    ['ext4', '-i 1024 -b 1024 -I 1024', /must be larger than the inode size/],
    ['ext4', '-m 51', /-m takes 0\.\.50/],
    ['ext4', '-m 0.5', /-m takes 0\.\.50/],
    ['ext4', '-b', /-b needs a value: -b 1024\|2048\|4096/],
    ['ext4', '-b 4096 -b 1024', /-b is given twice/],
    ['ext4', '-b 1024 -I 2048', /-I takes/],
    ['ext4', '-F', /"-F" is not allowed/],
    ['ext4', '/dev/xvdf', /"\/dev\/xvdf" is not allowed/],
    ['ext4', '-b 4096; rm -rf /', /"-b 4096;" is not allowed/],
    ['xfs', '-b size=3000', /for xfs, -b takes size=512\.\.65536 \(a power of two\)/],
    ['xfs', '-b size=131072', /-b takes size=512\.\.65536/],
    ['xfs', '-b 4096', /"-b 4096" is not allowed: for xfs/],
    ['xfs', '-i size=4096', /-i takes size=256\|512\|1024\|2048/],
    ['xfs', '-m crc=2', /-m takes crc=0\|1/],
    ['xfs', '-m reflink=1', /-m takes crc=0\|1/],
    ['xfs', '-f', /"-f" is not allowed/],
    ['xfs', '-b size=512', /xfs with checksums \(crc=1, the default\) needs -b size=1024 or more/],
    ['xfs', '-i size=256 -m crc=1', /needs -i size=512 or more/],
    ['xfs', '-i size=256', /needs -i size=512 or more/],
    ['xfs', '-b size=1024 -i size=1024', /xfs inode size 1024 must be at most half the block size 1024/],
    ['xfs', '-b size=2048 -i size=2048', /at most half the block size 2048/],
    ['xfs', '-m crc=0 -b size=512 -i size=512', /at most half the block size 512/],
  ])('%s refuses %j', (fsType, mkfs, message) => {
    const { field, message: text } = problem({ fsType, mkfsOptions: mkfs });
    expect(field).toBe('mkfsOptions');
    expect(text).toMatch(message);
  });

  it('does not judge mkfs options against a filesystem that was itself refused', () => {
    const err = failure({ fsType: 'zfs', mkfsOptions: '-b 4096' });
    expect(err.problems.map((p) => p.field)).toEqual(['fsType']);
  });

  it('documents the same allow-list it enforces', () => {
    const doc = CREATE_OPTIONS.find((o) => o.name === 'mkfsOptions')!;
    for (const fsType of ['ext4', 'xfs'] as const) {
      for (const flag of MKFS_ALLOW_LIST[fsType]) expect(doc.allowed).toContain(`${flag.flag} ${flag.takes}`);
    }
  });
});

describe('uid, gid and mode', () => {
  it('sets the owner and mode of the data directory', () => {
    expect(parse({ uid: '999', gid: '0', mode: '0770' }).spec.format).toEqual({
      fsType: 'ext4',
      mkfsOptions: [],
      uid: 999,
      gid: 0,
      mode: 0o770,
    });
  });

  it.each([
    ['755', 0o755],
    ['0700', 0o700],
    ['1777', 0o1777],
    ['2775', 0o2775],
  ])('reads mode %s as octal', (mode, expected) => {
    expect(parse({ mode }).spec.format.mode).toBe(expected);
  });

  it.each(['75', '0o755', '888', '07777', 'rwx', '10000', '-755'])('refuses mode %j', (mode) => {
    expect(problem({ mode })).toEqual({
      field: 'mode',
      message: `mode: ${JSON.stringify(mode)} is not an octal mode of 3 or 4 digits (e.g. mode=0755)`,
    });
  });

  it.each([
    ['uid', '2147483647', undefined],
    ['uid', '2147483648', 'user id'],
    ['uid', '-1', 'user id'],
    ['uid', 'root', 'user id'],
    ['gid', '1000.5', 'group id'],
    ['gid', 'staff', 'group id'],
  ])('%s=%s', (key, value, refusedAs) => {
    if (refusedAs === undefined) {
      expect(parse({ [key]: value }).spec.format).toMatchObject({ [key]: Number(value) });
      return;
    }
    expect(problem({ [key]: value })).toEqual({
      field: key,
      message: `${key}: ${JSON.stringify(value)} is not a numeric ${refusedAs} from 0 to 2147483647`,
    });
  });
});

describe('crossAZ', () => {
  it('defaults to refuse and accepts snapshot, outside the EC2 spec', () => {
    expect(parse(null).crossAZ).toBe('refuse');
    const parsed = parse({ crossAZ: 'Snapshot' });
    expect(parsed.crossAZ).toBe('snapshot');
    expect(parsed.spec).not.toHaveProperty('crossAZ');
    expect(parsed.spec.extraTags).toEqual({});
  });

  it('refuses anything else', () => {
    expect(problem({ crossaz: 'move' }).message).toBe('crossaz: "move" is not a cross-AZ policy; allowed: refuse, snapshot');
  });
});

describe('several problems', () => {
  it('are all reported in one message, unknown keys first, each naming its key', () => {
    const err = failure({ sizee: '1', size: 'abc', type: 'gp2', iops: '3000', encrypted: 'maybe' });
    expect(err.problems.map((p) => p.field)).toEqual(['sizee', 'size', 'encrypted', 'iops']);
    expect(err.field).toBe('sizee');
    expect(err.message).toMatch(/^4 problems with the volume options: invalid option "sizee"/);
    expect(err.message).toContain('; size: "abc" is not a whole number of GiB');
    expect(err.message).toContain('; encrypted: "maybe" is not true or false');
    expect(err.message).toContain('; iops: gp2 volumes take no iops setting');
  });

  it('do not pile up follow-on errors from a value that was already refused', () => {
    const err = failure({ type: 'io9', iops: '5', size: 'x' });
    expect(err.problems.map((p) => p.field)).toEqual(['size', 'type']);
  });

  it('combine refusals from different rules for one volume', () => {
    const err = failure({ type: 'st1', size: '100', throughput: '500', encrypted: 'no', kmsKeyId: 'alias/k' });
    expect(err.problems.map((p) => p.message)).toEqual([
      'size: st1 volumes need at least 125 GiB, not 100',
      'throughput: st1 volumes take no throughput setting (only gp3 does)',
      'kmsKeyId: a KMS key encrypts the volume, but encrypted=no: remove one of them',
    ]);
  });
});

describe('a full request', () => {
  it('produces the spec the cloud layer creates', () => {
    const parsed = parseCreateOptions(
      'pgdata',
      {
        Size: '1Ti',
        type: 'io2',
        IOPS: '20000',
        encrypted: 'yes',
        az: 'us-east-1a',
        snapshotId: 'snap-0123456789abcdef0',
        tags: 'team=db,backup=daily',
        fsType: 'xfs',
        mkfsOptions: '-b size=4096',
        uid: '999',
        gid: '999',
        mode: '0700',
        crossAZ: 'snapshot',
      },
      { ...defaults, kmsKeyId: KEY_ARN },
    );
    expect(parsed).toEqual({
      spec: {
        name: 'pgdata',
        sizeGiB: 1024,
        volumeType: 'io2',
        iops: 20000,
        encrypted: true,
        kmsKeyId: KEY_ARN,
        availabilityZone: 'us-east-1a',
        snapshotId: 'snap-0123456789abcdef0',
        extraTags: { team: 'db', backup: 'daily' },
        format: { fsType: 'xfs', mkfsOptions: ['-b', 'size=4096'], uid: 999, gid: 999, mode: 0o700 },
      },
      crossAZ: 'snapshot',
      sizeDefaulted: false,
    });
  });
});

describe('CREATE_OPTIONS', () => {
  it('documents every option with its aliases, allowed values, default and description', () => {
    expect(CREATE_OPTIONS.map((o) => o.name)).toEqual([
      'size', 'volumeType', 'iops', 'throughput', 'encrypted', 'kmsKeyId', 'availabilityZone', 'snapshot', 'tags',
      'fsType', 'mkfsOptions', 'uid', 'gid', 'mode', 'crossAZ',
    ]);
    for (const option of CREATE_OPTIONS) {
      expect(option.allowed.length).toBeGreaterThan(0);
      expect(option.default.length).toBeGreaterThan(0);
      expect(option.description.length).toBeGreaterThan(0);
    }
    expect(CREATE_OPTIONS.find((o) => o.name === 'volumeType')!.aliases).toEqual(['type']);
    expect(CREATE_OPTIONS.find((o) => o.name === 'kmsKeyId')!.aliases).toEqual(['encryptionKey']);
  });

  it('is what the parser accepts: every documented name and alias is a valid key', () => {
    const samples: Record<string, string> = {
      size: '20', volumeType: 'gp3', iops: '3000', throughput: '125', encrypted: 'true', kmsKeyId: KEY_UUID,
      availabilityZone: 'us-east-1a', snapshot: 'snap-01234567', tags: 'a=b', fsType: 'ext4', mkfsOptions: '-b 4096',
      uid: '1', gid: '1', mode: '0755', crossAZ: 'refuse',
    };
    for (const option of CREATE_OPTIONS) {
      for (const key of [option.name, ...option.aliases]) {
        expect(() => parse({ [key]: samples[option.name] })).not.toThrow();
      }
    }
  });

  it('cannot be changed by a caller', () => {
    expect(Object.isFrozen(CREATE_OPTIONS)).toBe(true);
    expect(Object.isFrozen(CREATE_OPTIONS[0])).toBe(true);
  });
});
