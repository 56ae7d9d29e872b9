/**
 * Reading a decoded CSI message. grpc-js hands over whatever the client's bytes decoded to, every field present
 * with its default; each read still checks the type, so a message of an unexpected shape is refused
 * (INVALID_ARGUMENT) and never crashes a handler.
 */
import { quote } from '../common/text';
import { invalidArgument } from './status';

export type Message = Record<string, unknown>;

export function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field; '' when unset (proto3 cannot tell unset from empty). */
export function text(message: Message, field: string): string {
  const value = message[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalidArgument(`${field} must be a string`);
  return value;
}

/** A string field the spec marks REQUIRED; `label` names it in the refusal when it is nested. */
export function requiredText(message: Message, field: string, label = field): string {
  const value = text(message, field);
  if (value === '') throw invalidArgument(`${label} is required`);
  return value;
}

export function flag(message: Message, field: string): boolean {
  const value = message[field] ?? false;
  if (typeof value !== 'boolean') throw invalidArgument(`${field} must be true or false`);
  return value;
}

/** A whole number field; 0 when unset. */
export function whole(message: Message, field: string): number {
  const value = message[field] ?? 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidArgument(`${field} must be a whole number`);
  return value;
}

/** A message field, or undefined when unset. */
export function nested(message: Message, field: string): Message | undefined {
  const value = message[field];
  if (value === undefined || value === null) return undefined;
  if (!isMessage(value)) throw invalidArgument(`${field} must be a message`);
  return value;
}

export function list(message: Message, field: string): unknown[] {
  const value = message[field] ?? [];
  if (!Array.isArray(value)) throw invalidArgument(`${field} must be a list`);
  return value;
}

/**
 * A map<string, string> field, copied into an object without a prototype, so that a key such as "__proto__" is a
 * key like any other.
 */
export function stringMap(message: Message, field: string): Record<string, string> {
  const value = message[field] ?? {};
  if (!isMessage(value)) throw invalidArgument(`${field} must be a map of strings`);
  const map: Record<string, string> = Object.create(null);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw invalidArgument(`${field}[${quote(key, 80)}] must be a string`);
    map[key] = item;
  }
  return map;
}
