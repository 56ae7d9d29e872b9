/** The one place that turns errors into the `Err` strings Docker shows to users. */
import { BerthError, errorMessage } from '../common/errors';
import { clip } from '../common/text';

/** Longest Err berth answers: messages quote what the request sent, and a request can send a megabyte. */
export const MAX_ERR_CHARS = 2_000;

export function dockerErr(err: unknown): string {
  return clip(err instanceof BerthError ? err.message : `berth: internal error: ${errorMessage(err)}`, MAX_ERR_CHARS);
}

/** Error kinds that say something about the user's request rather than about berth. */
export function isUserError(err: unknown): boolean {
  return err instanceof BerthError && ['invalid-name', 'invalid-option', 'not-found', 'in-use', 'attached-elsewhere', 'zone-mismatch', 'capacity'].includes(err.code);
}
