/** Plain-text tables as `docker volume ls` prints them: a header row, columns three spaces apart, no borders. */
import { oneLine } from './formats';

const GAP = '   ';

export function formatTable(headers: string[], rows: string[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(oneLine))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) =>
    headers
      .map((_, column) => (row[column] ?? '').padEnd(widths[column]))
      .join(GAP)
      .trimEnd();
  return `${cells.map(line).join('\n')}\n`;
}

/** `key: value` lines with the values aligned. */
export function formatFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  return fields.map(([key, value]) => `${`${key}:`.padEnd(width)} ${oneLine(value)}`).join('\n') + '\n';
}
