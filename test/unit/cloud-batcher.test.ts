import { Batcher } from '../../src/cloud/batcher';

function notFound(id: string): Error {
  return Object.assign(new Error(`The volume '${id}' does not exist.`), { name: 'InvalidVolume.NotFound' });
}

/** A fake bulk API over a fixed set of existing keys that fails the whole call on an unknown key, as EC2 does. */
function fakeApi(existing: string[]) {
  const calls: string[][] = [];
  const batcher = new Batcher<string, string>({
    windowMs: 20,
    fetchMany: async (keys) => {
      calls.push(keys);
      const missing = keys.find((key) => !existing.includes(key));
      if (missing) throw notFound(missing);
      return new Map(keys.map((key) => [key, `volume ${key}`]));
    },
    fetchOne: async (key) => {
      calls.push([key]);
      return existing.includes(key) ? `volume ${key}` : undefined;
    },
    splitOn: (err) => (err as Error).name === 'InvalidVolume.NotFound',
  });
  return { batcher, calls };
}

describe('Batcher', () => {
  it('serves 10 concurrent look-ups with one bulk call', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `vol-${i}`);
    const { batcher, calls } = fakeApi(ids);
    const results = await Promise.all(ids.map((id) => batcher.load(id)));
    expect(results).toEqual(ids.map((id) => `volume ${id}`));
    expect(calls).toHaveLength(1);
    expect(calls[0].sort()).toEqual([...ids].sort());
  });

  it('asks once for a key requested twice in one window', async () => {
    const { batcher, calls } = fakeApi(['vol-1', 'vol-2']);
    const results = await Promise.all([batcher.load('vol-1'), batcher.load('vol-1'), batcher.load('vol-2')]);
    expect(results).toEqual(['volume vol-1', 'volume vol-1', 'volume vol-2']);
    expect(calls).toEqual([['vol-1', 'vol-2']]);
  });

  it('describes each id alone when one bad id fails the batch', async () => {
    const { batcher, calls } = fakeApi(['vol-1', 'vol-2']);
    const results = await Promise.all([batcher.load('vol-1'), batcher.load('vol-gone'), batcher.load('vol-2')]);
    expect(results).toEqual(['volume vol-1', undefined, 'volume vol-2']);
    expect(calls[0]).toHaveLength(3);
    expect(calls.slice(1).map((call) => call[0]).sort()).toEqual(['vol-1', 'vol-2', 'vol-gone']);
  });

  it('fails every waiter on an error that one id cannot cause', async () => {
    const batcher = new Batcher<string, string>({
      fetchMany: async () => {
        throw Object.assign(new Error('denied'), { name: 'UnauthorizedOperation' });
      },
      fetchOne: async () => 'never',
      splitOn: () => false,
    });
    const results = await Promise.allSettled([batcher.load('a'), batcher.load('b')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });

  it('flushes at maxBatch keys without waiting for the window', async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>({
      windowMs: 10_000,
      maxBatch: 5,
      fetchMany: async (keys) => {
        sizes.push(keys.length);
        return new Map(keys.map((key) => [key, key * 2]));
      },
      fetchOne: async (key) => key * 2,
      splitOn: () => false,
    });
    const start = Date.now();
    const results = await Promise.all([1, 2, 3, 4, 5].map((key) => batcher.load(key)));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(sizes).toEqual([5]);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('rejects an aborted caller at once while the batch serves the others', async () => {
    const { batcher } = fakeApi(['vol-1', 'vol-2']);
    const controller = new AbortController();
    const aborted = batcher.load('vol-1', controller.signal);
    const other = batcher.load('vol-2');
    controller.abort(new Error('deadline'));
    await expect(aborted).rejects.toThrow('deadline');
    await expect(other).resolves.toBe('volume vol-2');
  });
  it('sends a lone look-up at once instead of waiting for the window', async () => {
    const batcher = new Batcher<string, string>({
      windowMs: 10_000,
      fetchMany: async (keys) => new Map(keys.map((key) => [key, key])),
      fetchOne: async (key) => `one ${key}`,
      splitOn: () => false,
    });
    const start = Date.now();
    await expect(batcher.load('vol-1')).resolves.toBe('one vol-1');
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('while a bulk call is under way, gathers the keys asked for meanwhile into one call', async () => {
    const calls: string[][] = [];
    let release: () => void = () => undefined;
    const firstCallDone = new Promise<void>((resolve) => (release = resolve));
    const batcher = new Batcher<string, string>({
      windowMs: 50,
      fetchMany: async (keys) => {
        calls.push(keys);
        return new Map(keys.map((key) => [key, key]));
      },
      fetchOne: async (key) => {
        calls.push([key]);
        if (calls.length === 1) await firstCallDone;
        return key;
      },
      splitOn: () => false,
    });
    const first = batcher.load('vol-1');
    await new Promise((resolve) => setImmediate(resolve));
    const later: Array<Promise<string | undefined>> = [];
    for (const key of ['vol-2', 'vol-3', 'vol-4']) {
      later.push(batcher.load(key));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    release();
    await expect(Promise.all([first, ...later])).resolves.toEqual(['vol-1', 'vol-2', 'vol-3', 'vol-4']);
    expect(calls).toEqual([['vol-1'], ['vol-2', 'vol-3', 'vol-4']]);
  });

  it('under a burst of different keys, gathers look-ups that arrive apart into fewer calls; one key polled alone goes at once', async () => {
    const calls: string[][] = [];
    const batcher = new Batcher<string, string>({
      windowMs: 20,
      busyWindowMs: 200,
      busyAfter: 4,
      fetchMany: async (keys) => (calls.push(keys), new Map(keys.map((key) => [key, key]))),
      fetchOne: async (key) => (calls.push([key]), key),
      splitOn: () => false,
    });
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    for (let poll = 0; poll < 5; poll++) {
      const start = Date.now();
      await batcher.load('polled');
      expect(Date.now() - start).toBeLessThan(100);
    }
    calls.length = 0;
    const loads: Array<Promise<string | undefined>> = [];
    for (let i = 0; i < 12; i++) {
      loads.push(batcher.load(`vol-${i}`));
      await pause(30); // mounts arriving one by one, each after its own work
    }
    await Promise.all(loads);
    expect(calls.flat().sort()).toEqual(Array.from({ length: 12 }, (_, i) => `vol-${i}`).sort());
    expect(calls.length).toBeLessThanOrEqual(5);
  });
});
