/** `berth doctor`: one line per check, and the fix on the next line for each check that did not pass. */
import type { DoctorReport } from '../admin/protocol';
import { oneLine } from './formats';

const FIX_INDENT = ' '.repeat(6);

export function doctorLines(report: DoctorReport): string {
  if (report.checks.length === 0) return 'doctor ran no checks\n';
  const width = Math.max(...report.checks.map((check) => check.name.length));
  return report.checks
    .map((check) => {
      const line = `${check.outcome.toUpperCase().padEnd(4)}  ${oneLine(check.name).padEnd(width)}  ${oneLine(check.detail ?? '')}`.trimEnd();
      return check.outcome !== 'pass' && check.fix ? `${line}\n${FIX_INDENT}fix: ${oneLine(check.fix)}\n` : `${line}\n`;
    })
    .join('');
}

export function anyFailed(report: DoctorReport): boolean {
  return report.checks.some((check) => check.outcome === 'fail');
}
