import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Refcounts } from '../../src/volumes/refcounts';

describe('mount records', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-refcounts-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const mounted = { volumeId: 'vol-1', device: '/dev/xvdf', mountpoint: '/mnt/berth/db' };

  it('counts the mount IDs "__proto__" and "constructor" like any other, also after a restart', async () => {
    const file = path.join(dir, 'mounts.json');
    const records = new Refcounts(file, 'boot-1');
    await records.acquire('db', '__proto__', mounted);
    await records.acquire('db', 'constructor', mounted);
    expect(records.users('db')).toBe(2);
    const restarted = new Refcounts(file, 'boot-1');
    expect(restarted.users('db')).toBe(2);
    expect(await restarted.release('db', 'other')).toBe(2);
    expect(await restarted.release('db', '__proto__')).toBe(1);
    expect(await restarted.release('db', 'constructor')).toBe(0);
  });
});
