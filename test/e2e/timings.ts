/**
 * Scenario timings: each e2e scenario records how long it took, and every test file ends by printing the table of
 * the whole run so far (with `jest --runInBand test/e2e` all files run in one process, so the last table printed
 * covers every scenario of the run). The table is also written to build/e2e-timings.txt.
 *
 * Rows go through a file (build/e2e-timings.jsonl) because jest gives each test file its own module registry:
 * module state does not outlive a file. Rows of another process (an earlier run) are dropped on the first write.
 */
import fs from 'node:fs';
import path from 'node:path';

const BUILD = path.resolve(__dirname, '../../build');
const ROWS_FILE = path.join(BUILD, 'e2e-timings.jsonl');
const TABLE_FILE = path.join(BUILD, 'e2e-timings.txt');

export interface TimingRow {
  run: number;
  file: string;
  scenario: string;
  seconds: number;
  passed: boolean;
}

function readRows(): TimingRow[] {
  try {
    return fs
      .readFileSync(ROWS_FILE, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as TimingRow)
      .filter((row) => row.run === process.pid);
  } catch {
    return [];
  }
}

export function recordTiming(file: string, scenario: string, seconds: number, passed: boolean): void {
  fs.mkdirSync(BUILD, { recursive: true });
  const rows = [...readRows(), { run: process.pid, file, scenario, seconds, passed }];
  fs.writeFileSync(ROWS_FILE, rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
}

export function timingTable(rows: TimingRow[]): string {
  const width = Math.max(8, ...rows.map((row) => row.file.length + row.scenario.length + 3));
  const result = (row: TimingRow) => {
    if (row.scenario.startsWith('[known bug]')) return row.passed ? 'PASSED: bug fixed? make it a plain scenario' : 'failed as expected (known bug)';
    return row.passed ? 'passed' : 'FAILED';
  };
  const lines = rows.map((row) => `${`${row.file} › ${row.scenario}`.padEnd(width)}  ${row.seconds.toFixed(1).padStart(6)}  ${result(row)}`);
  const total = rows.reduce((sum, row) => sum + row.seconds, 0);
  return [
    `${'scenario'.padEnd(width)}  ${'seconds'.padStart(6)}  result`,
    ...lines,
    `${'total of scenarios'.padEnd(width)}  ${total.toFixed(1).padStart(6)}`,
  ].join('\n');
}

/** Prints (stdout) and writes the table of every scenario this run has timed so far. */
export function printTimings(): void {
  const rows = readRows();
  if (rows.length === 0) return;
  const table = timingTable(rows);
  fs.mkdirSync(BUILD, { recursive: true });
  fs.writeFileSync(TABLE_FILE, `${table}\n`);
  process.stdout.write(`\ne2e scenario timings (this run so far; also in ${path.relative(process.cwd(), TABLE_FILE)}):\n${table}\n\n`);
}

/**
 * Declares a timed scenario of this file: `it(name, fn, timeoutMs)` that records its duration whether it passes or
 * fails. Call printTimings() from the file's afterAll.
 */
export function timedScenarios(testFile: string) {
  const file = path.basename(testFile).replace(/\.test\.ts$/, '');
  const timed = (name: string, fn: () => Promise<void>) => async () => {
    const started = Date.now();
    let passed = false;
    try {
      await fn();
      passed = true;
    } finally {
      recordTiming(file, name, (Date.now() - started) / 1000, passed);
    }
  };
  const scenario = (name: string, fn: () => Promise<void>, timeoutMs: number) => it(name, timed(name, fn), timeoutMs);
  /**
   * A scenario showing a known berth bug: it asserts what users need and is expected to fail (jest's it.failing)
   * until the bug is fixed; then it fails, and should become a plain scenario.
   */
  scenario.knownBug = (bug: string, name: string, fn: () => Promise<void>, timeoutMs: number) =>
    it.failing(`[known bug: ${bug}] ${name}`, timed(`[known bug] ${name}`, fn), timeoutMs);
  return scenario;
}
