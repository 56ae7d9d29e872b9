/**
 * A JSON document on disk, replaced atomically (write, fsync, rename) so a crash never leaves half a file.
 * Without `durable` the fsync is skipped: for caches, where an older copy after a power loss does no harm.
 */
import fs from 'node:fs';
import path from 'node:path';

export class JsonFile<T> {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly empty: () => T,
    private readonly durable = true,
  ) {}

  read(): T {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw new Error(`cannot read ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Writes are serialised; each resolves once its content is durable. */
  write(value: T): Promise<void> {
    return this.writeText(JSON.stringify(value, null, 1));
  }

  /**
   * The same, for the JSON text of a value made by the caller: a large one as pieces, each written as it is made,
   * so that the whole text is never held at once.
   */
  writeText(text: string | AsyncIterable<string>): Promise<void> {
    const next = this.writing.then(() => this.writeNow(text));
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeNow(text: string | AsyncIterable<string>): Promise<void> {
    await makeDirectory(path.dirname(this.file));
    const temporary = `${this.file}.${process.pid}.tmp`;
    const handle = await fs.promises.open(temporary, 'w', 0o600);
    try {
      try {
        if (typeof text === 'string') await handle.writeFile(text);
        else for await (const piece of text) await handle.write(piece);
        if (this.durable) await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temporary, this.file);
    } catch (err) {
      await fs.promises.rm(temporary, { force: true });
      throw err;
    }
  }
}

/** mkdir -p, also of a directory that is a symlink to one not made yet (the plugin links its old state dir so). */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const dangling = (err as NodeJS.ErrnoException).code === 'ENOENT' && (await fs.promises.lstat(dir).catch(() => undefined))?.isSymbolicLink();
    if (!dangling) throw err;
    await fs.promises.mkdir(path.resolve(path.dirname(dir), await fs.promises.readlink(dir)), { recursive: true, mode: 0o700 });
  }
}
