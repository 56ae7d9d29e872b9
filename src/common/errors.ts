/**
 * Typed errors, raised where a failure arises (validation, cloud, host) and turned into Docker `Err`
 * strings in one place: src/api/errors.ts.
 */
export type ErrorCode =
  | 'invalid-name'
  | 'invalid-option'
  | 'not-found'
  | 'in-use'
  | 'attached-elsewhere'
  | 'zone-mismatch'
  | 'capacity'
  | 'timeout'
  | 'device-missing'
  | 'unsafe-device'
  | 'filesystem'
  | 'cloud'
  | 'host'
  | 'not-ready'
  | 'internal';

export class BerthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BerthError';
  }
}

/** Bad user input: always names the field and what is allowed. */
export class ValidationError extends BerthError {
  constructor(
    readonly field: string,
    message: string,
    code: 'invalid-option' | 'invalid-name' = field === 'name' ? 'invalid-name' : 'invalid-option',
  ) {
    super(code, message);
    this.name = 'ValidationError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
