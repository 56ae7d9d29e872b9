/**
 * The rule for berth's state files (mounts.json, volumes.json, pending-detaches.json, abandoned-creates.json), in
 * one place.
 *
 * Every document carries `version`. A reader knows the version it writes and how to upgrade each earlier version it
 * still reads, one version at a time, in memory; the current version is written at the next write, never eagerly,
 * so a file no change touched stays readable by the release that wrote it (a rollback). Any other version — newer
 * than this berth, older than it still reads, or none — is refused: the file is copied aside, unchanged, as
 * `<name>.v<N>.unreadable`, an error says so, and the reader starts from the empty document. Dropping the records
 * of a file berth cannot read is the safe side: berth never detaches a volume it has no record of.
 */
import fs from 'node:fs';
import { createLogger, type Logger } from '../log';
import { JsonFile } from './json-file';

export interface StateFormat<T extends { version: number }> {
  /** The version this berth reads and writes. */
  version: T['version'];
  empty(): T;
  /** `upgrades[n]` turns a version-n document into version n + 1. */
  upgrades?: Record<number, (document: any) => unknown>;
}

let fallbackLogger: Logger | undefined;
/** For readers given no logger: the same JSON lines on stdout as the daemon's. */
function defaultLogger(): Logger {
  fallbackLogger ??= createLogger({ level: 'info' });
  return fallbackLogger;
}

export class StateFile<T extends { version: number }> {
  private readonly json: JsonFile<unknown>;
  private readonly logger: Logger;

  constructor(
    readonly file: string,
    private readonly format: StateFormat<T>,
    options: { durable?: boolean; logger?: Logger } = {},
  ) {
    this.json = new JsonFile<unknown>(file, format.empty, options.durable ?? true);
    this.logger = options.logger ?? defaultLogger();
  }

  read(): T {
    let document = this.json.read() as { version?: unknown };
    const found = document?.version;
    if (typeof found !== 'number' || !Number.isInteger(found) || found > this.format.version) return this.refuse(found);
    for (let version = found; version < this.format.version; version++) {
      const upgrade = this.format.upgrades?.[version];
      if (!upgrade) return this.refuse(found);
      document = upgrade(document) as { version?: unknown };
    }
    return document as T;
  }

  write(value: T): Promise<void> {
    return this.json.write(value);
  }

  /** Writes JSON text the caller made of a document of this format (the caller vouches for its version). */
  writeText(text: string | AsyncIterable<string>): Promise<void> {
    return this.json.writeText(text);
  }

  private refuse(found: unknown): T {
    const keptAs = this.keepAside(found);
    const newer = typeof found === 'number' && found > this.format.version;
    this.logger.error(
      newer
        ? 'state file written by a newer berth: not reading it; it is kept aside, unchanged'
        : 'state file of a version this berth does not read: not reading it; it is kept aside, unchanged',
      { file: this.file, version: found ?? null, readsVersion: this.format.version, keptAs, consequence: 'its records are not known to this berth (it never detaches a volume it has no record of); restore the file with the berth that wrote it' },
    );
    return this.format.empty();
  }

  /** A copy beside the file; the file itself is replaced only by the next write. */
  private keepAside(found: unknown): string {
    const keptAs = `${this.file}.v${typeof found === 'number' ? found : 'unknown'}.unreadable`;
    const content = fs.readFileSync(this.file);
    if (fs.existsSync(keptAs) && fs.readFileSync(keptAs).equals(content)) return keptAs;
    const free = fs.existsSync(keptAs) ? `${keptAs}.${Date.now()}` : keptAs;
    fs.writeFileSync(free, content, { mode: 0o600 });
    return free;
  }
}
