/**
 * An admin answer as a stream of JSON lines (src/admin/protocol.ts): progress while the work waits, then one final
 * line. The HTTP status is sent with the first line: a failure before any progress gets a status that says so.
 */
import type { ServerResponse } from 'node:http';
import { BerthError, ValidationError, errorMessage } from '../common/errors';
import { clip } from '../common/text';
import { ADMIN_CONTENT_TYPE, type AdminError, type AdminLine, type ProgressEvent } from './protocol';

/** Messages quote what the request sent: bounded, as Docker's Err is. */
const MAX_MESSAGE_CHARS = 2_000;
/** A progress line repeated this soon after the same one is left out (polls report the same state many times). */
const SAME_PROGRESS_GAP_MS = 1_000;

const STATUS_OF: Partial<Record<string, number>> = {
  'invalid-name': 400,
  'invalid-option': 400,
  'not-found': 404,
  'in-use': 409,
  'attached-elsewhere': 409,
  'zone-mismatch': 409,
  'not-ready': 503,
  timeout: 504,
};

export function adminError(err: unknown): AdminError {
  if (err instanceof ValidationError) return { kind: err.code, message: clip(err.message, MAX_MESSAGE_CHARS), field: clip(err.field, 100) };
  if (err instanceof BerthError) return { kind: err.code, message: clip(err.message, MAX_MESSAGE_CHARS) };
  return { kind: 'internal', message: clip(`berth: internal error: ${errorMessage(err)}`, MAX_MESSAGE_CHARS) };
}

export class LineAnswer {
  private started = false;
  private lastProgress?: { text: string; at: number };

  constructor(private readonly res: ServerResponse) {}

  progress(event: ProgressEvent): void {
    const text = JSON.stringify({ progress: { ...event, message: clip(event.message, MAX_MESSAGE_CHARS) } } satisfies AdminLine);
    const now = Date.now();
    if (this.lastProgress?.text === text && now - this.lastProgress.at < SAME_PROGRESS_GAP_MS) return;
    this.lastProgress = { text, at: now };
    this.write(200, text);
  }

  result(result: unknown): void {
    this.write(200, JSON.stringify({ result } satisfies AdminLine));
    this.res.end();
  }

  error(err: unknown): void {
    const error = adminError(err);
    this.write(STATUS_OF[error.kind] ?? 500, JSON.stringify({ error } satisfies AdminLine));
    this.res.end();
  }

  private write(status: number, line: string): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(status, { 'Content-Type': ADMIN_CONTENT_TYPE, 'Cache-Control': 'no-store' });
    }
    this.res.write(`${line}\n`);
  }
}
