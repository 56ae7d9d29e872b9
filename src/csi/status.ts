/** The one place errors become gRPC statuses: berth's error codes, and the door's own refusals of a request. */
import { status, type ServiceError } from '@grpc/grpc-js';
import { BerthError, errorMessage, type ErrorCode } from '../common/errors';
import { clip } from '../common/text';

export { status };

/** Longest status message berth answers: messages quote what the request sent. */
export const MAX_STATUS_MESSAGE_CHARS = 2_000;

/** A request the door itself refuses, with the status the CSI spec names for it. */
export class CsiRefusal extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'CsiRefusal';
  }
}

export const invalidArgument = (message: string) => new CsiRefusal(status.INVALID_ARGUMENT, message);

const STATUS_OF: Partial<Record<ErrorCode, status>> = {
  'invalid-name': status.INVALID_ARGUMENT,
  'invalid-option': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'in-use': status.FAILED_PRECONDITION,
  'attached-elsewhere': status.FAILED_PRECONDITION,
  'zone-mismatch': status.FAILED_PRECONDITION,
  capacity: status.RESOURCE_EXHAUSTED,
  timeout: status.DEADLINE_EXCEEDED,
  'not-ready': status.UNAVAILABLE,
};

export type CsiStatus = Pick<ServiceError, 'code' | 'details'>;

export function csiStatus(err: unknown): CsiStatus {
  if (err instanceof CsiRefusal) return { code: err.code, details: clip(err.message, MAX_STATUS_MESSAGE_CHARS) };
  if (err instanceof BerthError) return { code: STATUS_OF[err.code] ?? status.INTERNAL, details: clip(err.message, MAX_STATUS_MESSAGE_CHARS) };
  return { code: status.INTERNAL, details: clip(`berth: internal error: ${errorMessage(err)}`, MAX_STATUS_MESSAGE_CHARS) };
}

/** "NOT_FOUND", for the log. */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}
