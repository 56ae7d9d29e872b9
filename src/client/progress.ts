/** The progress lines of a streaming call, as one line on stderr rewritten in place; shown only on a terminal. */
import type { ProgressEvent } from '../admin/protocol';
import { oneLine } from './formats';
import type { OutputStream } from './io';

export interface ProgressLine {
  show(event: ProgressEvent): void;
  /** Erases the line, before the answer is printed. */
  clear(): void;
}

const ERASE_TO_END = '\u001b[K';

export function progressLine(stream: OutputStream, enabled: boolean): ProgressLine {
  if (!enabled) return { show: () => undefined, clear: () => undefined };
  let shown = false;
  return {
    show(event) {
      const percent = typeof event.percent === 'number' && Number.isFinite(event.percent) ? ` ${Math.round(event.percent)}%` : '';
      // A line longer than the terminal wraps, and \r then rewrites only its last row: cut the message, keep the percent.
      const room = Math.max(10, (stream.columns ?? 80) - 1 - percent.length);
      const message = oneLine(String(event.message ?? event.step ?? ''));
      const text = message.length > room ? `${message.slice(0, room - 1)}…` : message;
      stream.write(`\r${text}${percent}${ERASE_TO_END}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write(`\r${ERASE_TO_END}`);
      shown = false;
    },
  };
}
