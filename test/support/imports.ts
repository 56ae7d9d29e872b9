/**
 * The import graph of a TypeScript source tree, read with the compiler's own pre-processor: static imports,
 * `import type`, `export ... from` and dynamic `import()` all count. Only relative specifiers are followed.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Module id (path below the root, without .ts) → the module ids it imports. */
export type ImportGraph = Map<string, string[]>;

export function sourceFiles(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => path.join(root, file))
    .sort();
}

export function moduleId(root: string, file: string): string {
  return path.relative(root, file).replace(/\.ts$/, '').split(path.sep).join('/');
}

export function readImportGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of sourceFiles(root)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => fileName)
      // A JSON file (package.json's version) is data, not a module of the layout.
      .filter((specifier) => specifier.startsWith('.') && !specifier.endsWith('.json'))
      .map((specifier) => resolveModule(path.dirname(file), specifier))
      .map((target) => moduleId(root, target));
    graph.set(moduleId(root, file), [...new Set(targets)]);
  }
  return graph;
}

function resolveModule(fromDir: string, specifier: string): string {
  const base = path.resolve(fromDir, specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(`cannot resolve ${specifier} from ${fromDir}`);
}

/** Every strongly connected set of two or more modules, or a module importing itself (Tarjan's algorithm). */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;

  const visit = (node: string): void => {
    index.set(node, counter);
    lowLink.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        lowLink.set(node, Math.min(lowLink.get(node)!, lowLink.get(next)!));
      } else if (onStack.has(next)) {
        lowLink.set(node, Math.min(lowLink.get(node)!, index.get(next)!));
      }
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const members: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      members.push(member);
    } while (member !== node);
    if (members.length > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(members.sort());
  };

  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

/** The first path segment of a module id: its folder, or the top-level file's own name. */
export function areaOf(id: string): string {
  return id.split('/')[0];
}
