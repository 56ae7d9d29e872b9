/** Numbers the benchmarks read from the environment, with the name of a bad one in the error. */
export function setting(name: string, fallback: number, { whole = true }: { whole?: boolean } = {}): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!(parsed > 0) || !Number.isFinite(parsed) || (whole && !Number.isInteger(parsed))) {
    throw new Error(`${name} must be a positive ${whole ? 'whole ' : ''}number, not ${JSON.stringify(value)}`);
  }
  return parsed;
}
