/**
 * Who uses each mounted volume: a multiset of Docker mount IDs per volume name, persisted before Mount answers
 * so a restarted daemon knows which containers still hold a volume.
 */
import fs from 'node:fs';
import type { Logger } from '../log';
import { StateFile } from './state-file';

/** Changes at every boot of the machine: mounts recorded under another boot are all gone. */
export function currentBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export interface MountRecord {
  volumeId: string;
  device: string;
  mountpoint: string;
  /** Docker mount ID -> number of Mounts not yet matched by an Unmount. */
  ids: Record<string, number>;
  /** When berth mounted it (ms since the epoch); absent in records written before berth kept it. */
  since?: number;
}

type Document = { version: 1; bootId?: string; mounts: Record<string, MountRecord> };

/** Mount IDs come from Docker's request: without a prototype, "__proto__" or "constructor" is an ID like any other. */
function idCounts(from: Record<string, number> = {}): Record<string, number> {
  return Object.assign(Object.create(null) as Record<string, number>, from);
}

export class Refcounts {
  /** Changes whenever a user is added or let go. */
  version = 0;
  private readonly file: StateFile<Document>;
  private readonly mounts: Map<string, MountRecord>;
  /**
   * Mount IDs recorded by an earlier run of berth, per volume. Docker may never unmount them: a container that
   * died with a crashed dockerd gets no Unmount. Only these are worth checking for users that are gone.
   */
  private readonly inherited = new Map<string, Set<string>>();
  /** The records were written before the machine last booted. */
  readonly fromEarlierBoot: boolean;

  constructor(
    file: string,
    private readonly bootId = currentBootId(),
    logger?: Logger,
  ) {
    this.file = new StateFile<Document>(file, { version: 1, empty: () => ({ version: 1, mounts: {} }) }, { logger });
    const document = this.file.read();
    this.mounts = new Map(Object.entries(document.mounts));
    this.fromEarlierBoot = this.mounts.size > 0 && document.bootId !== bootId;
    for (const [name, record] of this.mounts) {
      record.ids = idCounts(record.ids);
      this.inherited.set(name, new Set(Object.keys(record.ids)));
    }
  }

  get(name: string): MountRecord | undefined {
    return this.mounts.get(name);
  }

  names(): string[] {
    return [...this.mounts.keys()];
  }

  users(name: string): number {
    const record = this.mounts.get(name);
    return record ? Object.values(record.ids).reduce((sum, count) => sum + count, 0) : 0;
  }

  /** Whether every user left was recorded by an earlier run of berth (none of them has unmounted since). */
  onlyInheritedUsers(name: string): boolean {
    const record = this.mounts.get(name);
    const inherited = this.inherited.get(name);
    if (!record || !inherited) return false;
    const ids = Object.keys(record.ids);
    return ids.length > 0 && ids.every((id) => inherited.has(id));
  }

  /** Volumes whose users were all recorded by an earlier run. */
  namesWithOnlyInheritedUsers(): string[] {
    return this.names().filter((name) => this.onlyInheritedUsers(name));
  }

  async acquire(name: string, id: string, mounted: Omit<MountRecord, 'ids' | 'since'>): Promise<void> {
    // Users recorded before (a remount after Docker unmounted our side) keep counting.
    const previous = this.mounts.get(name);
    const record: MountRecord = { ...mounted, ids: previous?.ids ?? idCounts(), since: previous?.since ?? Date.now() };
    this.inherited.get(name)?.delete(id);
    record.ids[id] = (record.ids[id] ?? 0) + 1;
    this.mounts.set(name, record);
    this.version++;
    await this.persist();
  }

  /** Returns the number of users left; an unknown ID changes nothing and counts none. */
  async release(name: string, id: string): Promise<number> {
    const record = this.mounts.get(name);
    if (!record || !record.ids[id]) return this.users(name);
    record.ids[id] -= 1;
    this.version++;
    if (record.ids[id] === 0) {
      delete record.ids[id];
      this.inherited.get(name)?.delete(id);
    }
    await this.persist();
    return this.users(name);
  }

  async forget(name: string): Promise<void> {
    this.inherited.delete(name);
    if (!this.mounts.delete(name)) return;
    this.version++;
    await this.persist();
  }

  persist(): Promise<void> {
    return this.file.write({ version: 1, bootId: this.bootId, mounts: Object.fromEntries(this.mounts) });
  }
}
