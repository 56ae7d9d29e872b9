/** The one place that turns errors into the `Err` strings Docker shows to users. */
import { BerthError, errorMessage } from '../common/errors';

export function dockerErr(err: unknown): string {
  if (err instanceof BerthError) return err.message;
  return `berth: internal error: ${errorMessage(err)}`;
}

/** Error kinds that say something about the user's request rather than about berth. */
export function isUserError(err: unknown): boolean {
  return err instanceof BerthError && ['invalid-name', 'invalid-option', 'not-found', 'in-use', 'attached-elsewhere', 'zone-mismatch', 'capacity'].includes(err.code);
}
