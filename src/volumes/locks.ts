/** One lock per volume name, dropped when nobody holds or waits for it. */
import { Mutex, type MutexInterface } from 'async-mutex';

interface Entry {
  mutex: Mutex;
  /** Holders and waiters, including waiters whose signal ended and who let go as soon as their turn comes. */
  users: number;
}

export class KeyedLocks {
  private readonly locks = new Map<string, Entry>();

  /** Runs `work` holding the key's lock. With a signal, giving up the wait for the lock when it ends. */
  async run<T>(key: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const entry = this.enter(key);
    const release = await this.acquire(key, entry, signal);
    try {
      return await work();
    } finally {
      release();
      this.leave(key, entry);
    }
  }

  /** Resolves once no lock is held (used at shutdown to let in-flight calls finish). */
  async idle(): Promise<void> {
    while (this.locks.size > 0) {
      await Promise.all([...this.locks.values()].map((entry) => entry.mutex.waitForUnlock()));
    }
  }

  private enter(key: string): Entry {
    let entry = this.locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.locks.set(key, entry);
    }
    entry.users += 1;
    return entry;
  }

  private leave(key: string, entry: Entry): void {
    entry.users -= 1;
    if (entry.users === 0) this.locks.delete(key);
  }

  /**
   * A waiter whose signal ends stays queued until its turn, then lets go at once: the entry must outlive it, or a
   * newcomer would make a second mutex for the same key.
   */
  private acquire(key: string, entry: Entry, signal?: AbortSignal): Promise<MutexInterface.Releaser> {
    const acquiring = entry.mutex.acquire();
    if (!signal) return acquiring;
    return new Promise((resolve, reject) => {
      let gaveUp = false;
      const giveUp = () => {
        gaveUp = true;
        reject(signal.reason);
      };
      signal.addEventListener('abort', giveUp, { once: true });
      void acquiring.then((release) => {
        signal.removeEventListener('abort', giveUp);
        if (!gaveUp) return resolve(release);
        release();
        this.leave(key, entry);
      });
    });
  }
}
