/**
 * Sends the bytes of a hostile request over a unix socket exactly as given (no HTTP client in between, so framing can
 * be wrong on purpose), and reads the first answer. Every exchange is bounded: a socket neither answered nor closed
 * within `boundMs` of the last byte written is destroyed and reported as timed out.
 */
import net from 'node:net';
import type { Delivery } from './hostile';

export interface RawAnswer {
  /** Absent when the connection closed without an answer (or we hung up). */
  status?: number;
  headers: Record<string, string>;
  body: string;
  timedOut: boolean;
  /** From the last byte written to the close. */
  ms: number;
}

/** The first answer is enough; an Err is at most a few KB. */
const KEPT_BYTES = 256 * 1024;

const PIECE_BYTES = 64 * 1024;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function sendRaw(socketPath: string, bytes: Buffer, delivery: Delivery, boundMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    const received: Buffer[] = [];
    let kept = 0;
    let lastWrite = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    socket.on('data', (chunk: Buffer) => {
      if (kept < KEPT_BYTES) received.push(chunk);
      kept += chunk.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ ...parseAnswer(Buffer.concat(received)), timedOut, ms: Date.now() - lastWrite });
    });
    const startBound = () => {
      lastWrite = Date.now();
      timer = setTimeout(() => {
        timedOut = true;
        socket.destroy();
      }, boundMs);
    };
    const write = (piece: Buffer) => new Promise<void>((done) => (socket.destroyed ? done() : socket.write(piece, () => done())));
    socket.once('connect', async () => {
      if (delivery.how === 'hang up') {
        await write(bytes.subarray(0, delivery.afterBytes));
        socket.destroy();
        return;
      }
      if (delivery.how === 'slow') {
        const size = Math.ceil(bytes.length / delivery.pieces);
        for (let at = 0; at < bytes.length && !socket.destroyed; at += size) {
          await write(bytes.subarray(at, at + size));
          await pause(delivery.pauseMs);
        }
      } else {
        // In pieces, and no more once an answer came: the daemon answers a body that is too large before its end.
        for (let at = 0; at < bytes.length && !socket.destroyed && kept === 0; at += PIECE_BYTES) await write(bytes.subarray(at, at + PIECE_BYTES));
        if (delivery.how === 'half-close') socket.end();
      }
      startBound();
    });
  });
}

function parseAnswer(raw: Buffer): Pick<RawAnswer, 'status' | 'headers' | 'body'> {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (end < 0 || !status) return { headers: {}, body: text };
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  const length = Number(headers['content-length']);
  if (Number.isInteger(length)) body = Buffer.from(body).subarray(0, length).toString('utf8');
  return { status: Number(status[1]), headers, body };
}
