#!/usr/bin/env node
/**
 * Runs TypeScript without a build step (the benchmarks, the demo): every .ts file is transpiled by esbuild as Node
 * loads it, in place, so modules keep their own __dirname (the test harness finds the repository by it).
 *
 *   node --enable-source-maps test/support/run-ts.cjs bench/main.ts [args...]
 *   require('./test/support/run-ts.cjs')   (registers the hook only: then require() .ts files)
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('esbuild');

Module._extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    sourcefile: filename,
    sourcemap: 'inline',
  });
  module._compile(code, filename);
};

if (require.main === module) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) {
    process.stderr.write('usage: node test/support/run-ts.cjs <file.ts> [args...]\n');
    process.exit(2);
  }
  process.argv = [process.argv[0], path.resolve(entry), ...args];
  require(path.resolve(entry));
}
