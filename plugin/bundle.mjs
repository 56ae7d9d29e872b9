#!/usr/bin/env node
/**
 * Bundles the daemon for the plugin rootfs: no node_modules in the image.
 *
 *   node plugin/bundle.mjs [--entry src/cli.ts] [--outdir build/bundle]
 *
 * Writes <outdir>/cli.js, the chunks it loads (<name>-<hash>.js), a package.json marking them ES modules, any data
 * files a bundled dependency reads at run time, and <outdir>/meta.json (esbuild's metafile: what went in and how
 * big it is). Everything but meta.json belongs next to cli.js in the rootfs.
 *
 * ES modules split into chunks, not one CommonJS file, for two reasons measured on the plugin:
 * - start-up: what the daemon imports only after its socket listens (express, the EC2 client) sits in chunks that
 *   Node reads and compiles only then; one file is read and compiled whole before the first line runs;
 * - memory: esbuild can drop unused exports only from ES modules it does not wrap, and in a CommonJS bundle every
 *   module behind an import() is wrapped: all ~600 EC2 commands (and the aggregated EC2 client) stayed in, about
 *   45 MiB of resident memory once loaded.
 * Minified, but function and class names are kept (keepNames) so stack traces in the plugin's log stay readable.
 */
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Dependencies that read a file next to their own module through import.meta.url (ESM only).
 * In the bundle import.meta.url is the chunk's own, so the read is redirected to a copy next to the bundle.
 * The build fails if the expected source text is gone, so a dependency upgrade cannot break it silently.
 */
const FILES_NEXT_TO_MODULE = [
  {
    module: /[\\/]node_modules[\\/]quickjs-wasi[\\/]dist[\\/]index\.js$/,
    find: "new URL('../quickjs.wasm', import.meta.url)",
    replace: "require('node:path').join(__dirname, 'quickjs.wasm')",
    copy: 'node_modules/quickjs-wasi/quickjs.wasm',
  },
];

function redirectFileReads(used) {
  return {
    name: 'redirect-file-reads',
    setup(builder) {
      for (const rule of FILES_NEXT_TO_MODULE) {
        builder.onLoad({ filter: rule.module }, async (args) => {
          const source = await fs.promises.readFile(args.path, 'utf8');
          if (!source.includes(rule.find)) {
            throw new Error(`${args.path} no longer contains ${rule.find}: update FILES_NEXT_TO_MODULE in plugin/bundle.mjs`);
          }
          used.add(rule);
          return { contents: source.split(rule.find).join(rule.replace), loader: 'js' };
        });
      }
    },
  };
}

/**
 * Bundled CommonJS dependencies call require() for Node's own modules and use __dirname; an ES module has neither,
 * so every chunk gets them (under these names nothing in the bundle can clash with them).
 */
const COMMONJS_GLOBALS = [
  "import { createRequire as __berthCreateRequire } from 'node:module';",
  "import { fileURLToPath as __berthFileURLToPath } from 'node:url';",
  'const require = __berthCreateRequire(import.meta.url);',
  'const __filename = __berthFileURLToPath(import.meta.url);',
  "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
].join('\n');

export async function bundle({ entry = path.join(REPO, 'src/cli.ts'), outdir = path.join(REPO, 'build/bundle') } = {}) {
  if (!fs.existsSync(entry)) throw new Error(`bundle: entry ${entry} does not exist (is the daemon written yet?)`);
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(outdir, { recursive: true });
  const used = new Set();
  const result = await build({
    entryPoints: { cli: entry },
    outdir,
    chunkNames: '[name]-[hash]',
    absWorkingDir: REPO,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    splitting: true,
    banner: { js: COMMONJS_GLOBALS },
    minify: true,
    keepNames: true,
    treeShaking: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
    // Prefer the ES module builds of dual packages: with sideEffects: false (the AWS SDK) unused exports drop out.
    mainFields: ['module', 'main'],
    plugins: [redirectFileReads(used)],
  });
  for (const rule of used) fs.copyFileSync(path.join(REPO, rule.copy), path.join(outdir, path.basename(rule.copy)));
  fs.writeFileSync(path.join(outdir, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);
  fs.writeFileSync(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
  return { outdir, file: path.join(outdir, 'cli.js'), bytes };
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { entry: { type: 'string' }, outdir: { type: 'string' } } });
  bundle({
    entry: values.entry && path.resolve(values.entry),
    outdir: values.outdir && path.resolve(values.outdir),
  }).then(
    (out) => console.log(`bundle: ${path.relative(process.cwd(), out.file)} and its chunks, ${(out.bytes / 1024).toFixed(0)} KiB`),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
