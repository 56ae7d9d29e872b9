import { KeyedLocks } from '../../src/volumes/locks';

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('per-volume locks', () => {
  it('run one holder of a key at a time, and different keys side by side', async () => {
    const locks = new KeyedLocks();
    const order: string[] = [];
    const first = gate();
    const holding = locks.run('db', async () => {
      order.push('first in');
      await first.opened;
      order.push('first out');
    });
    const second = locks.run('db', async () => void order.push('second'));
    await locks.run('other', async () => void order.push('other key'));
    first.open();
    await Promise.all([holding, second]);
    expect(order).toEqual(['first in', 'other key', 'first out', 'second']);
  });

  it('give up waiting when the waiter\'s signal ends, and still keep later callers behind the holder', async () => {
    const locks = new KeyedLocks();
    const order: string[] = [];
    const first = gate();
    const holding = locks.run('db', async () => {
      await first.opened;
      order.push('first out');
    });
    const impatient = new AbortController();
    const waiting = locks.run('db', async () => void order.push('impatient ran'), impatient.signal);
    impatient.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    const later = locks.run('db', async () => void order.push('later'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    first.open();
    await Promise.all([holding, later]);
    expect(order).toEqual(['first out', 'later']);
    await locks.idle();
  });

  it('refuse at once a signal that has already ended', async () => {
    const locks = new KeyedLocks();
    await expect(locks.run('db', async () => 'ran', AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    await expect(locks.run('db', async () => 'ran')).resolves.toBe('ran');
  });
});
