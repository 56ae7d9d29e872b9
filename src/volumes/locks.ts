/** One lock per volume name, dropped when nobody holds or waits for it. */
import { Mutex } from 'async-mutex';

export class KeyedLocks {
  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let entry = this.locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.locks.set(key, entry);
    }
    entry.users += 1;
    try {
      return await entry.mutex.runExclusive(work);
    } finally {
      entry.users -= 1;
      if (entry.users === 0) this.locks.delete(key);
    }
  }

  /** Resolves once no lock is held (used at shutdown to let in-flight calls finish). */
  async idle(): Promise<void> {
    while (this.locks.size > 0) {
      await Promise.all([...this.locks.values()].map((entry) => entry.mutex.waitForUnlock()));
    }
  }
}
