/**
 * The layout ARCHITECTURE.md describes, checked against the imports of src: one volume core, several front doors.
 * A new folder or top-level file of src must be placed in LAYERS before anything may import it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { areaOf, findCycles, readImportGraph, sourceFiles, type ImportGraph } from '../support/imports';

const SRC = path.join(__dirname, '..', '..', 'src');
const MAX_LINES = 400;

/** What each area may import besides itself: whole areas, or single modules ("cloud/types"). '*' is anything. */
const LAYERS: Record<string, readonly string[]> = {
  common: [],
  config: ['common'],
  version: [],
  log: ['common', 'config'],
  cloud: ['common', 'config', 'log'],
  host: ['common', 'log'],
  volumes: ['common', 'config', 'log', 'cloud/types', 'cloud/attachments', 'host/types'],
  api: ['common', 'log', 'volumes/operations'],
  admin: ['common', 'log', 'volumes/operations'],
  csi: ['common', 'log', 'version', 'volumes/operations'],
  client: ['common', 'config', 'admin/protocol'],
  metrics: ['common', 'config', 'volumes/operations'],
  localec2: ['config', 'log'],
  daemon: ['*'],
  'csi-daemon': ['*'],
  cli: ['*'],
};

/** The ways in: each calls the volume service's public operations and nothing below them. */
const FRONT_DOORS = ['api', 'metrics', 'admin', 'csi'];

function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function allowed(from: string, to: string): boolean {
  const fromArea = areaOf(from);
  const rules = LAYERS[fromArea] ?? [];
  return areaOf(to) === fromArea || rules.includes('*') || rules.includes(areaOf(to)) || rules.includes(to);
}

function violations(graph: ImportGraph, test: (from: string, to: string) => boolean): string[] {
  return [...graph].flatMap(([from, targets]) => targets.filter((to) => test(from, to)).map((to) => `${from} imports ${to}`));
}

describe('the layout of src', () => {
  const graph = readImportGraph(SRC);

  it('has no import cycle, type-only imports included', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = sourceFiles(SRC)
      .map((file) => ({ file: path.relative(SRC, file), lines: lineCount(fs.readFileSync(file, 'utf8')) }))
      .filter(({ lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('keeps every front door away from cloud and host', () => {
    const reaching = violations(graph, (from, to) => FRONT_DOORS.includes(areaOf(from)) && ['cloud', 'host'].includes(areaOf(to)));
    expect(reaching).toEqual([]);
  });

  it('lets each area import only what its layer allows', () => {
    expect(violations(graph, (from, to) => !allowed(from, to))).toEqual([]);
  });

  it('makes composite signals only with common/signals (AbortSignal.any alone loses deadlines on Node 20)', () => {
    const raw = sourceFiles(SRC)
      .filter((file) => path.relative(SRC, file) !== path.join('common', 'signals.ts'))
      .filter((file) => fs.readFileSync(file, 'utf8').includes('AbortSignal.any('))
      .map((file) => path.relative(SRC, file));
    expect(raw).toEqual([]);
  });

  it('places every folder and top-level file of src in a layer', () => {
    const areas = [...new Set([...graph.keys()].map(areaOf))];
    expect(areas.filter((area) => !(area in LAYERS))).toEqual([]);
    expect(FRONT_DOORS.filter((door) => !(door in LAYERS))).toEqual([]);
  });
});

describe('the import graph reader', () => {
  it('finds cycles of any length, including a module importing itself, and nothing in a tree', () => {
    const graph: ImportGraph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
      ['e', ['e']],
      ['f', ['d']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(findCycles(new Map([['x', ['y']], ['y', []]]))).toEqual([]);
  });

  it('counts type-only imports, re-exports and dynamic imports', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-imports-'));
    try {
      fs.mkdirSync(path.join(dir, 'pkg'));
      fs.writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport { C } from './pkg';\nexport const d = () => import('./d');\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "import { a } from './a';\nexport type B = 1;\n");
      fs.writeFileSync(path.join(dir, 'pkg', 'index.ts'), 'export const C = 1;\n');
      fs.writeFileSync(path.join(dir, 'd.ts'), "import fs from 'node:fs';\n");
      const read = readImportGraph(dir);
      expect(read.get('a')).toEqual(['b', 'pkg/index', 'd']);
      expect(read.get('d')).toEqual([]);
      expect(findCycles(read)).toEqual([['a', 'b']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
