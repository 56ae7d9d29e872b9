import { BerthError, ValidationError } from '../../src/common/errors';
import { guessField, mapEc2Error } from '../../src/cloud/errors';

/** An error shaped like the SDK's: `name` is EC2's error code. */
function ec2Error(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

describe('mapEc2Error', () => {
  it('maps VolumeInUse to in-use and keeps EC2 message', () => {
    const err = mapEc2Error(ec2Error('VolumeInUse', 'vol-1 is already attached to an instance'), 'DeleteVolume vol-1');
    expect(err.code).toBe('in-use');
    expect(err.message).toContain('DeleteVolume vol-1');
    expect(err.message).toContain('vol-1 is already attached to an instance');
  });

  it.each([
    ['InvalidVolume.NotFound', 'not-found'],
    ['InvalidVolume.ZoneMismatch', 'zone-mismatch'],
    ['AttachmentLimitExceeded', 'capacity'],
    ['VolumeLimitExceeded', 'capacity'],
    ['InsufficientVolumeCapacity', 'capacity'],
    ['VolumeModificationRateExceeded', 'capacity'],
    ['IncorrectModificationState', 'in-use'],
    ['TimeoutError', 'timeout'],
    ['AbortError', 'timeout'],
    ['SomethingNew', 'cloud'],
  ])('maps %s to %s', (name, code) => {
    expect(mapEc2Error(ec2Error(name, 'x'), 'op').code).toBe(code);
  });

  it('says what to do about the attachment limit', () => {
    const err = mapEc2Error(ec2Error('AttachmentLimitExceeded', 'You have reached the limit'), 'AttachVolume vol-1');
    expect(err.code).toBe('capacity');
    expect(err.message).toMatch(/limit of attached EBS volumes/);
    expect(err.message).toContain('You have reached the limit');
  });

  it.each(['AuthFailure', 'UnauthorizedOperation', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'CredentialsProviderError'])(
    'explains %s as a credentials or IAM problem',
    (name) => {
      const err = mapEc2Error(ec2Error(name, 'You are not authorized to perform this operation.'), 'DescribeVolumes');
      expect(err.code).toBe('cloud');
      expect(err.message).toMatch(/credentials/);
      expect(err.message).toMatch(/IAM/);
      expect(err.message).toContain('You are not authorized to perform this operation.');
    },
  );

  it('turns a node timeout (ETIMEDOUT) into a timeout error', () => {
    const err = Object.assign(new Error('socket hang up'), { code: 'ETIMEDOUT' });
    expect(mapEc2Error(err, 'op').code).toBe('timeout');
  });

  it('reports an unreachable endpoint as a cloud error that says so', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const mapped = mapEc2Error(err, 'DescribeVolumes');
    expect(mapped.code).toBe('cloud');
    expect(mapped.message).toMatch(/cannot reach the EC2 endpoint/);
  });

  it.each([
    ['Iops to volume size ratio of 1000 is too high; maximum is 500.', 'iops'],
    ['Throughput (MiBps) to iops ratio of 0.5 is too high; maximum is 0.25.', 'throughput'],
    ['Volume of 20000GiB is too large for volume type gp2; maximum is 16384GiB', 'size'],
    ['The volume size is invalid for io1 volumes: 3 GiB.', 'size'],
    ['Invalid KMS key ID arn:aws:kms:us-east-1:1:key/x', 'kmsKeyId'],
    ["The snapshot 'snap-1' has a size larger than the volume", 'snapshot'],
    ['Invalid availability zone: [us-east-1z]', 'availabilityZone'],
    ['Value (gp9) for parameter volumeType is invalid.', 'volumeType'],
    ['Something else entirely', 'options'],
  ])('guesses the field of %j', (message, field) => {
    const err = mapEc2Error(ec2Error('InvalidParameterValue', message), 'CreateVolume data');
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect(err.message).toContain(message);
    expect(guessField(message)).toBe(field);
  });

  it('treats InvalidParameterCombination as a validation error too', () => {
    const err = mapEc2Error(ec2Error('InvalidParameterCombination', 'The parameter iops is not supported for gp2 volumes.'), 'CreateVolume');
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('iops');
  });

  it('passes BerthErrors through', () => {
    const original = new BerthError('attached-elsewhere', 'x');
    expect(mapEc2Error(original, 'op')).toBe(original);
  });
});
