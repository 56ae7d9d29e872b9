/** JsonFile (src/volumes/json-file.ts): a document replaced whole or not at all, also when written in pieces. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JsonFile } from '../../src/volumes/json-file';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-json-file-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function* pieces(texts: string[], failAfter = Infinity): AsyncGenerator<string> {
  for (const [index, text] of texts.entries()) {
    if (index >= failAfter) throw new Error('the document could not be made');
    await new Promise((resolve) => setImmediate(resolve));
    yield text;
  }
}

describe('JsonFile', () => {
  it('writes a document made in pieces as one file, each piece as it comes', async () => {
    const file = new JsonFile(path.join(dir, 'state.json'), () => ({}), false);
    await file.writeText(pieces(['{"volumes":{', '"a":1,', '"b":2', '}}\n']));
    expect(file.read()).toEqual({ volumes: { a: 1, b: 2 } });
  });

  it('keeps the previous document, and leaves no temporary file, when making the new one fails midway', async () => {
    const file = new JsonFile(path.join(dir, 'state.json'), () => ({}), false);
    await file.write({ volumes: { kept: 1 } });
    await expect(file.writeText(pieces(['{"volumes":{', '"lost":1', '}}\n'], 2))).rejects.toThrow('the document could not be made');
    expect(file.read()).toEqual({ volumes: { kept: 1 } });
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });
});
