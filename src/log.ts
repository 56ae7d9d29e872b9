/**
 * winston JSON logs. Secret values are scrubbed from every line, whatever field they end up in, and every text
 * field is cut to a bounded length (a field may hold what a request sent).
 */
import winston from 'winston';
import { clip } from './common/text';
import type { LogLevel } from './config';

export type Logger = winston.Logger;

const REDACTED = '[redacted]';
export const MAX_LOGGED_FIELD_CHARS = 4_000;

function scrubber(secrets: string[]) {
  const present = secrets.filter((secret) => secret.length >= 4);
  const scrub = (value: unknown, depth = 0): unknown => {
    if (typeof value === 'string') {
      return clip(present.reduce((text, secret) => text.split(secret).join(REDACTED), value), MAX_LOGGED_FIELD_CHARS);
    }
    if (depth > 6 || value === null || typeof value !== 'object') return value;
    if (value instanceof Error) return scrub(value.message, depth + 1);
    if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = scrub(item, depth + 1);
    return copy;
  };
  return winston.format((info) => {
    for (const key of Object.keys(info)) (info as Record<string, unknown>)[key] = scrub(info[key]);
    return info;
  })();
}

export interface LoggerOptions {
  level: LogLevel;
  /** Values that must never appear in a log line (access and secret keys, session tokens). */
  secrets?: string[];
  stream?: NodeJS.WritableStream;
}

export function createLogger({ level, secrets = [], stream }: LoggerOptions): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), scrubber(secrets), winston.format.json()),
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console({ stderrLevels: [] })],
  });
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
