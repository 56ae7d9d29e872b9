/** The CLI's exit codes and the one error a command fails with: every failure carries the code it exits with. */
import type { AdminError } from '../admin/protocol';

export const EXIT = {
  ok: 0,
  /** The operation failed, or doctor found a failed check. */
  failed: 1,
  /** Bad usage or invalid input. */
  usage: 2,
  notFound: 3,
  /** Refused because of the volume's state. */
  refused: 4,
  /** The daemon could not be reached or is not ready. */
  unreachable: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The help text's table of the codes above. */
export const EXIT_CODES_HELP = `exit codes:
  0  success
  1  the operation failed (EC2, the host, the filesystem, a timeout), or doctor found a failed check
  2  bad usage or invalid input
  3  not found
  4  refused because of the volume's state (in use, attached elsewhere, in another zone)
  5  the berth daemon could not be reached or is not ready
`;

/** Daemon error kinds (src/common/errors.ts) with a code other than 1; any other kind, known or not, is 1. */
const EXIT_BY_KIND: Record<string, ExitCode> = {
  'invalid-option': EXIT.usage,
  'invalid-name': EXIT.usage,
  'not-found': EXIT.notFound,
  'in-use': EXIT.refused,
  'attached-elsewhere': EXIT.refused,
  'zone-mismatch': EXIT.refused,
  'not-ready': EXIT.unreachable,
};

export function exitCodeOfKind(kind: string): ExitCode {
  return Object.hasOwn(EXIT_BY_KIND, kind) ? EXIT_BY_KIND[kind] : EXIT.failed;
}

/** A command ends with this message on stderr (after "berth: ") and this exit code. */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export function usageError(message: string): CommandFailure {
  return new CommandFailure(EXIT.usage, message);
}

/** The daemon's error; a message that starts with "berth: " already (an internal error's) is not prefixed twice. */
export function failureOf(error: AdminError): CommandFailure {
  return new CommandFailure(exitCodeOfKind(String(error.kind)), String(error.message).replace(/^berth: /, ''));
}
