/** How single values read in tables and listings: sizes, rates, times; '-' for what is not there. */

/** Text from the daemon on one line: control characters (a newline, an escape) would break the layout. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

export function orDash(value: unknown): string {
  return value === undefined || value === null || value === '' ? '-' : String(value);
}

export function gib(size: number | undefined): string {
  return size === undefined ? '-' : `${size} GiB`;
}

export function mibPerSecond(throughput: number | undefined): string {
  return throughput === undefined ? '-' : `${throughput} MiB/s`;
}

export function percent(value: number | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${Math.round(value)}%` : '-';
}

/** An ISO time as "2026-01-31 12:00:05 UTC"; anything unreadable as given. */
export function utcTime(iso: string | undefined): string {
  if (!iso) return '-';
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : `${time.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function seconds(value: number): string {
  if (!Number.isFinite(value)) return '? s';
  return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
}
