/** Bounded renderings of text that came from outside: what a request sends is never echoed or logged at full length. */

/** The text, or its first `max` characters and how many were left out. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** JSON-quoted (control characters become escapes), cut after `max` characters. */
export function quote(text: string, max = 80): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max)).slice(0, -1)}…" (${text.length} characters)`;
}
