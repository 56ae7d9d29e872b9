/** Problems with a set of options: every one found in a request is collected and reported together. */
import { ValidationError } from '../../common/errors';

/** One problem with the options: field is the key as the user typed it (or the canonical name if it was left out). */
export interface OptionProblem {
  field: string;
  message: string;
}

/** Every problem found in one set of options; field and message summarise them for callers that need one. */
export class CreateOptionsError extends ValidationError {
  constructor(readonly problems: readonly OptionProblem[]) {
    super(problems[0].field, summarise(problems));
  }
}

function summarise(problems: readonly OptionProblem[]): string {
  if (problems.length === 1) return problems[0].message;
  return `${problems.length} problems with the volume options: ${problems.map((p) => p.message).join('; ')}`;
}

/** Collects problems while the options are parsed; each message starts with its field. */
export class Problems {
  readonly list: OptionProblem[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message: `${field}: ${message}` });
  }
}
