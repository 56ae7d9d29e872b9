/** One finding of `berth doctor`: what was checked, how it went, and one sentence that fixes it. */
export type CheckOutcome = 'pass' | 'fail' | 'warn' | 'skip';

export interface DoctorCheck {
  /** Short id, e.g. 'metadata', 'imdsv2', 'iam:ModifyVolume'. */
  name: string;
  outcome: CheckOutcome;
  /** What was found. */
  detail: string;
  /** One sentence that fixes it (when not passed). */
  fix?: string;
}
