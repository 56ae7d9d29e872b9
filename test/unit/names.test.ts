import { ValidationError } from '../../src/common/errors';
import { EC2_TAG_VALUE_MAX_LENGTH, maxVolumeNameLength, nameTagValue, validateVolumeName } from '../../src/volumes/names';

function rejection(name: unknown, tag = ''): ValidationError {
  try {
    validateVolumeName(name, tag);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('name');
    return err as ValidationError;
  }
  throw new Error(`${JSON.stringify(name)} was accepted`);
}

describe('validateVolumeName', () => {
  it.each([
    'a',
    'Z',
    '7',
    'db',
    'my-volume',
    'my_volume.v2',
    'UPPER.lower-09_',
    'a..b',
    'x-',
    '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  ])('accepts %s and returns it unchanged', (name) => {
    expect(validateVolumeName(name, '')).toBe(name);
    expect(validateVolumeName(name, 'prod')).toBe(name);
  });

  it.each([
    ['', /empty/],
    ['.', /path component/],
    ['..', /path component/],
    ['../etc', /"\/"/],
    ['a/b', /"\/"/],
    ['/abs', /"\/"/],
    ['a\u0000b', /control character/],
    ['tab\there', /control character/],
    ['line\nbreak', /control character/],
    ['del\u007f', /control character/],
    ['.hidden', /not allowed/],
    ['-dash-first', /not allowed/],
    ['_underscore', /not allowed/],
    ['with space', /not allowed/],
    ['colon:name', /not allowed/],
    ['ümlaut', /not allowed/],
    ['emoji😀', /not allowed/],
  ])('refuses %j', (name, reason) => {
    const err = rejection(name);
    expect(err.message).toMatch(reason);
    // Every refusal says what is allowed.
    expect(err.message).toMatch(/starts with a letter or digit and contains only letters, digits, "_", "\." and "-"/);
  });

  it('shows control characters escaped in the message, never raw', () => {
    const err = rejection('bad\u0000name\n');
    expect(err.message).toContain('"bad\\u0000name\\n"');
    expect(err.message).not.toMatch(/[\u0000\n]/);
  });

  it.each([
    [undefined, 'undefined'],
    [null, 'null'],
    [42, 'number'],
    [['a'], 'an array'],
    [{ name: 'a' }, 'object'],
  ])('refuses the non-string %j', (name, described) => {
    expect(rejection(name).message).toBe(`a volume name must be a string, not ${described}`);
  });

  describe('length against the EC2 Name tag limit', () => {
    it('allows 255 characters without a namespace and refuses 256: the mount point is a directory of that name', () => {
      expect(validateVolumeName('a'.repeat(255), '')).toHaveLength(255);
      const err = rejection('a'.repeat(256), '');
      expect(err.message).toContain('is 256 characters long: the maximum is 255');
      expect(err.message).toContain('a directory name holds at most 255 bytes');
      expect(rejection('a'.repeat(257), '').message).toContain('is 257 characters long: the maximum is 255');
    });

    it('counts the "<tag>/" prefix: with tag "prod" the maximum is 251', () => {
      expect(maxVolumeNameLength('prod')).toBe(251);
      expect(validateVolumeName('b'.repeat(251), 'prod')).toHaveLength(251);
      const err = rejection('b'.repeat(252), 'prod');
      expect(err.message).toContain('the maximum with the namespace "prod" is 251');
      expect(err.message).toContain('"prod/<name>" is limited to 256 characters');
    });

    it('counts a non-ASCII namespace in characters, as EC2 does', () => {
      expect(maxVolumeNameLength('é'.repeat(10))).toBe(EC2_TAG_VALUE_MAX_LENGTH - 11);
      expect(maxVolumeNameLength('😀')).toBe(254);
    });

    it('refuses every name when the namespace leaves no room, naming the namespace', () => {
      const tag = 't'.repeat(255);
      expect(maxVolumeNameLength(tag)).toBe(0);
      expect(rejection('a', tag).message).toMatch(/no volume name fits the namespace "t+".*choose a shorter EBS_TAG/);
    });

    it('cuts very long names in the message', () => {
      const err = rejection('n'.repeat(5000), '');
      expect(err.message.length).toBeLessThan(400);
      expect(err.message).toContain('5000 characters long');
    });

    it('refuses anonymous 64-hex names when the namespace is too long for them', () => {
      const anonymous = 'f'.repeat(64);
      expect(validateVolumeName(anonymous, 'x'.repeat(191))).toBe(anonymous);
      expect(rejection(anonymous, 'x'.repeat(192)).message).toContain('the maximum with the namespace');
    });
  });

  it('builds the Name tag value in REX-Ray form', () => {
    expect(nameTagValue('db', '')).toBe('db');
    expect(nameTagValue('db', 'prod')).toBe('prod/db');
  });
});
