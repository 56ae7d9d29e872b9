/** A debug logger whose JSON lines a test can read back. */
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log';

export function capturingLogger() {
  const lines: any[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk) => lines.push(...String(chunk).split('\n').filter(Boolean).map((line) => JSON.parse(line))));
  return { logger: createLogger({ level: 'debug', stream }), lines };
}
