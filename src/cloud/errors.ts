/**
 * Turns AWS SDK errors into berth's typed errors. The SDK sets `err.name` to EC2's error code
 * (`VolumeInUse`, `InvalidVolume.NotFound`, ...); EC2's own message is kept in every mapped error.
 */
import { BerthError, ValidationError } from '../common/errors';

const AUTH_CODES = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'OptInRequired',
  'Blocked',
  'CredentialsProviderError',
]);

const CAPACITY_HINTS: Record<string, string> = {
  AttachmentLimitExceeded: 'this instance has reached its limit of attached EBS volumes; detach a volume or use an instance type that allows more attachments',
  VolumeLimitExceeded: "the account's EBS storage quota in this region is used up; delete volumes or ask AWS for a higher quota",
  MaxIOPSLimitExceeded: "the account's provisioned IOPS quota in this region is used up; lower iops or ask AWS for a higher quota",
  VolumeModificationRateExceeded: 'EC2 allows at most four modifications of a volume in a rolling 24 hours; try again when EC2 says',
  InsufficientVolumeCapacity: 'EC2 has no capacity for this volume type in this availability zone right now; retry later or choose another volume type or zone',
};

const VALIDATION_CODES = new Set(['InvalidParameterValue', 'InvalidParameterCombination', 'InvalidParameter', 'MissingParameter', 'UnknownParameter']);

/** EC2's answers to a request signed with credentials that have expired (or were revoked) since they were fetched. */
const EXPIRED_CREDENTIAL_CODES = new Set(['RequestExpired', 'ExpiredToken', 'ExpiredTokenException']);

export function isExpiredCredentialsError(err: unknown): boolean {
  return EXPIRED_CREDENTIAL_CODES.has(errorCodeOf(err));
}

const THROTTLING_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'SlowDown', 'RequestThrottled', 'TooManyRequestsException']);

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** Guesses which volume option an EC2 parameter complaint is about; the order settles messages naming several. */
const FIELD_HINTS: Array<[RegExp, string]> = [
  [/\bkms\b|kmskeyid|encryption key/i, 'kmsKeyId'],
  [/snapshot/i, 'snapshot'],
  [/throughput/i, 'throughput'],
  [/\biops\b|iopspergb/i, 'iops'],
  [/\bsize\b|\d\s*gib\b|\bgib\b/i, 'size'],
  [/availability zone|availabilityzone|\bzone\b/i, 'availabilityZone'],
  [/volume ?type/i, 'volumeType'],
  [/\btag/i, 'tags'],
  [/encrypt/i, 'encrypted'],
];

export function errorCodeOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const { name, code } = err as { name?: unknown; code?: unknown };
    if (typeof name === 'string' && name !== 'Error') return name;
    if (typeof code === 'string') return code;
  }
  return '';
}

function systemCodeOf(err: unknown): string {
  const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}

function httpStatusOf(err: unknown): number | undefined {
  const metadata = err && typeof err === 'object' ? (err as { $metadata?: { httpStatusCode?: number } }).$metadata : undefined;
  return metadata?.httpStatusCode;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isThrottlingError(err: unknown): boolean {
  const code = errorCodeOf(err);
  return THROTTLING_CODES.has(code) || httpStatusOf(err) === 429;
}

export function hasErrorCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes(errorCodeOf(err));
}

export function guessField(message: string): string {
  return FIELD_HINTS.find(([pattern]) => pattern.test(message))?.[1] ?? 'options';
}

/**
 * Maps an SDK error to a BerthError. `action` says what was attempted, e.g. "AttachVolume vol-0abc".
 * BerthErrors pass through unchanged.
 */
export function mapEc2Error(err: unknown, action: string): BerthError {
  if (err instanceof BerthError) return err;
  const code = errorCodeOf(err);
  const message = messageOf(err);
  const options = { cause: err };

  switch (code) {
    case 'IncorrectModificationState':
      return new BerthError('in-use', `${action}: EC2 is still modifying the volume; wait until its modification has completed: ${message}`, options);
    case 'VolumeInUse':
      return new BerthError('in-use', `${action}: the volume is in use (attached to an instance): ${message}`, options);
    case 'InvalidVolume.NotFound':
    case 'InvalidVolumeID.NotFound':
      return new BerthError('not-found', `${action}: no such volume: ${message}`, options);
    case 'InvalidVolume.ZoneMismatch':
      return new BerthError(
        'zone-mismatch',
        `${action}: the volume is in another availability zone than this instance; move it with a snapshot or run the container in its zone: ${message}`,
        options,
      );
    case 'InvalidSnapshot.NotFound':
    case 'InvalidSnapshotID.Malformed':
      return new ValidationError('snapshot', `${action}: the snapshot does not exist or is malformed: ${message}`);
    case 'InvalidZone.NotFound':
      return new ValidationError('availabilityZone', `${action}: no such availability zone: ${message}`);
    case 'InvalidVolumeID.Malformed':
      return new BerthError('not-found', `${action}: malformed volume id: ${message}`, options);
  }
  if (code in CAPACITY_HINTS) {
    return new BerthError('capacity', `${action}: ${CAPACITY_HINTS[code]} (EC2 ${code}: ${message})`, options);
  }
  if (AUTH_CODES.has(code)) {
    return new BerthError(
      'cloud',
      `${action}: EC2 refused the credentials or their IAM permissions (${code}): ${message}. ` +
        "Check EBS_ACCESSKEY/EBS_SECRETKEY or the instance role and its IAM policy.",
      options,
    );
  }
  if (VALIDATION_CODES.has(code)) {
    return new ValidationError(guessField(message), `${action}: EC2 rejected a parameter: ${message}`);
  }
  if (code === 'AbortError') {
    return new BerthError('timeout', `${action}: cancelled before EC2 answered (the caller's deadline passed)`, options);
  }
  if (TIMEOUT_NAMES.has(code) || systemCodeOf(err) === 'ETIMEDOUT') {
    return new BerthError('timeout', `${action}: EC2 did not answer in time: ${message}`, options);
  }
  if (isThrottlingError(err)) {
    return new BerthError('cloud', `${action}: EC2 kept throttling the request after every retry (${code}): ${message}`, options);
  }
  if (NETWORK_CODES.has(systemCodeOf(err)) || NETWORK_CODES.has(code)) {
    return new BerthError('cloud', `${action}: cannot reach the EC2 endpoint: ${message}`, options);
  }
  return new BerthError('cloud', `${action} failed${code ? ` (${code})` : ''}: ${message}`, options);
}

/** Runs one EC2 call; whatever it fails with is answered as mapEc2Error words it, naming `action`. */
export async function ec2Call<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw mapEc2Error(err, action);
  }
}
