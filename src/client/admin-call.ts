/**
 * One call of the admin API: HTTP over its unix socket, the answer read line by line as it streams (progress lines,
 * then one result or error line: src/admin/protocol.ts).
 */
import http from 'node:http';
import { ADMIN_CONTENT_TYPE, type AdminError, type ProgressEvent } from '../admin/protocol';
import { clip } from '../common/text';
import { CommandFailure, EXIT, failureOf } from './failures';
import { LineSplitter } from './json-lines';

export interface AdminRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Route with its parameters filled in, and any query. */
  path: string;
  body?: object;
}

export interface AdminSocket {
  path: string;
  /** How it was found ("given by --socket"), said when it cannot be reached. */
  foundBy: string;
}

/** Errors of connecting: the daemon is not there, or not for this user. */
const UNREACHABLE: Record<string, string> = {
  ENOENT: 'no such socket',
  ENOTDIR: 'no such socket',
  ECONNREFUSED: 'nothing listens on it (is berth running?)',
  ENOTSOCK: 'it is not a socket',
  EACCES: 'permission denied: the admin socket is root only (run berth with sudo)',
};

/** Resolves with the result line's `result`; rejects with a CommandFailure for an error line or any other failure. */
export function callAdmin(socket: AdminSocket, request: AdminRequest, onProgress: (event: ProgressEvent) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let status: number | undefined;
    const settle = (outcome: { result: unknown } | { failure: CommandFailure }): void => {
      if (settled) return;
      settled = true;
      if ('failure' in outcome) reject(outcome.failure);
      else resolve(outcome.result);
    };
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const req = http.request(
      {
        socketPath: socket.path,
        method: request.method,
        path: request.path,
        agent: false,
        headers: { accept: ADMIN_CONTENT_TYPE, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) },
      },
      (res) => {
        status = res.statusCode;
        const lines = new LineSplitter();
        const read = (line: string): void => {
          if (settled) return;
          const outcome = lineOutcome(line, res.statusCode ?? 0, onProgress);
          if (!outcome) return;
          settle(outcome);
          // The answer is complete: what may follow is not read.
          req.destroy();
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => lines.push(chunk).forEach(read));
        res.on('end', () => lines.end().forEach(read));
        res.on('error', () => undefined); // 'close' follows and says it
        res.on('close', () => settle({ failure: endedEarly(status) }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => settle({ failure: status === undefined ? requestFailure(socket, err) : endedEarly(status) }));
    req.end(body);
  });
}

/** A final line's outcome; undefined for a progress line. */
function lineOutcome(line: string, status: number, onProgress: (event: ProgressEvent) => void): { result: unknown } | { failure: CommandFailure } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { failure: new CommandFailure(EXIT.failed, `the daemon answered HTTP ${status} with something other than JSON lines: ${clip(line, 200)}`) };
  }
  if (isObject(parsed) && 'result' in parsed) return { result: parsed.result };
  if (isObject(parsed) && isObject(parsed.error)) return { failure: failureOf(parsed.error as unknown as AdminError) };
  if (isObject(parsed) && isObject(parsed.progress)) {
    onProgress(parsed.progress as unknown as ProgressEvent);
    return undefined;
  }
  return { failure: new CommandFailure(EXIT.failed, `the daemon answered HTTP ${status} with a line that is neither progress, result nor error: ${clip(line, 200)}`) };
}

function endedEarly(status: number | undefined): CommandFailure {
  return new CommandFailure(EXIT.failed, `the daemon ended the answer early (HTTP ${status ?? '?'}, no result or error line)`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requestFailure(socket: AdminSocket, err: NodeJS.ErrnoException): CommandFailure {
  const reason = err.code === undefined ? undefined : UNREACHABLE[err.code];
  if (reason) return new CommandFailure(EXIT.unreachable, `cannot reach the berth daemon at ${socket.path} (the admin socket ${socket.foundBy}): ${reason}`);
  return new CommandFailure(EXIT.failed, `the daemon closed the connection before answering (${socket.path}: ${err.message})`);
}
