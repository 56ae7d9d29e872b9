/** Files as a database writes them. */
import fs from 'node:fs';

/** A write that has reached the volume (what a database does before it reports a commit). */
export function writeDurably(file: string, content: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
