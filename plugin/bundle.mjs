#!/usr/bin/env node
/**
 * Bundles the daemon into one CommonJS file for the plugin rootfs: no node_modules in the image.
 *
 *   node plugin/bundle.mjs [--entry src/cli.ts] [--outdir build/bundle]
 *
 * Writes <outdir>/cli.js (plus any data files a bundled dependency reads at run time, next to it) and
 * <outdir>/meta.json (esbuild's metafile: what went in and how big it is).
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
 * In a CommonJS bundle import.meta.url is empty, so the read is redirected to a copy next to the bundle.
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

export async function bundle({ entry = path.join(REPO, 'src/cli.ts'), outdir = path.join(REPO, 'build/bundle') } = {}) {
  if (!fs.existsSync(entry)) throw new Error(`bundle: entry ${entry} does not exist (is the daemon written yet?)`);
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(outdir, { recursive: true });
  const used = new Set();
  const result = await build({
    entryPoints: [entry],
    outfile: path.join(outdir, 'cli.js'),
    absWorkingDir: REPO,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    keepNames: true,
    treeShaking: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
    // Prefer CommonJS builds of dual packages: fewer import.meta surprises in a CommonJS bundle.
    mainFields: ['module', 'main'],
    plugins: [redirectFileReads(used)],
  });
  const unhandledImportMeta = result.warnings.filter((warning) => /import\.meta/.test(warning.text));
  if (unhandledImportMeta.length > 0) {
    const where = unhandledImportMeta.map((warning) => `${warning.location?.file}:${warning.location?.line}`).join(', ');
    throw new Error(`bundle: import.meta is empty in a CommonJS bundle and is used at ${where}`);
  }
  for (const rule of used) fs.copyFileSync(path.join(REPO, rule.copy), path.join(outdir, path.basename(rule.copy)));
  fs.writeFileSync(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return { outdir, file: path.join(outdir, 'cli.js'), bytes: fs.statSync(path.join(outdir, 'cli.js')).size };
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { entry: { type: 'string' }, outdir: { type: 'string' } } });
  bundle({
    entry: values.entry && path.resolve(values.entry),
    outdir: values.outdir && path.resolve(values.outdir),
  }).then(
    (out) => console.log(`bundle: ${path.relative(process.cwd(), out.file)} ${(out.bytes / 1024).toFixed(0)} KiB`),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
