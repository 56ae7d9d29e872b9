#!/usr/bin/env node
/**
 * Runs a TypeScript entry point of the benchmarks without a build step: every .ts file is transpiled by esbuild
 * as Node loads it, in place, so modules keep their own __dirname (the test harness finds the repository by it).
 *
 *   node --enable-source-maps bench/run.cjs bench/main.ts [args...]
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

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node bench/run.cjs <file.ts> [args...]\n');
  process.exit(2);
}
process.argv = [process.argv[0], path.resolve(entry), ...args];
require(path.resolve(entry));
