#!/usr/bin/env node
/**
 * Bundles the daemon for the plugin rootfs: no node_modules in the image.
 *
 *   node plugin/bundle.mjs [--entry src/cli.ts] [--outdir build/bundle]
 *
 * Writes <outdir>/cli.js, <outdir>/listing-worker.js (the listing thread), the chunks they load (<name>-<hash>.js), a package.json marking them ES modules, any data
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
import { builtinModules } from 'node:module';
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
 * The AWS SDK's schemas for all of EC2 sit in one module, as declarations whose object literals have computed keys
 * (`{ [_xN]: _TSa }`, `_xN` a string constant of the same module). esbuild cannot tell such a literal is free of side
 * effects, so it kept every schema (~550 KiB of code, thousands of arrays at load). With the constants written in
 * (`{ "xmlName": _TSa }`) the schemas of commands berth never sends drop out. Same values, same objects: only
 * computed keys naming a string constant of that module change. The build fails if the module stops looking so.
 */
const INLINED_SCHEMA_KEYS = /[\\/]node_modules[\\/]@aws-sdk[\\/]client-ec2[\\/]dist-es[\\/]schemas[\\/]schemas_0\.js$/;

function inlineSchemaKeys() {
  return {
    name: 'inline-schema-keys',
    setup(builder) {
      builder.onLoad({ filter: INLINED_SCHEMA_KEYS }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        const constants = new Map();
        for (const match of source.matchAll(/^const (_\w+) = ("[^"\\\n]*");$/gm)) constants.set(match[1], match[2]);
        let inlined = 0;
        const contents = source.replace(/\[(_\w+)\]:/g, (key, name) => {
          if (!constants.has(name)) return key;
          inlined += 1;
          return `${constants.get(name)}:`;
        });
        if (constants.size === 0 || inlined === 0) {
          throw new Error(`${args.path} no longer declares string constants used as computed keys: update inlineSchemaKeys in plugin/bundle.mjs`);
        }
        return { contents, loader: 'js' };
      });
    },
  };
}

/**
 * Dependencies berth loads only in rare set-ups, bundled on their own as CommonJS next to the chunks, so the chunks
 * Node reads on every start do not carry them:
 * - proxy-agent (with a JavaScript engine for PAC files, ~1 MiB): src/cloud/client.ts requires it only when a proxy
 *   is set;
 * - body-parser (with iconv-lite's tables, ~750 KiB): express requires it at load for express.json() and the like,
 *   which berth does not use (it reads request bodies itself). express gets a stand-in whose parsers load the real
 *   module on first call (`lazy`), so express.json() still works if it is ever called.
 */
const SEPARATE = [
  { module: 'proxy-agent', file: 'proxy-agent.cjs' },
  { module: 'body-parser', file: 'body-parser.cjs', lazy: ['json', 'raw', 'text', 'urlencoded'] },
];

function separateModules() {
  return {
    name: 'separate-modules',
    setup(builder) {
      for (const { module, file, lazy } of SEPARATE) {
        builder.onResolve({ filter: new RegExp(`^${module}$`) }, (args) =>
          lazy && args.namespace !== 'stand-in' ? { path: module, namespace: 'stand-in' } : { path: `./${file}`, external: true },
        );
        if (!lazy) continue;
        const contents = [
          `const load = () => require(${JSON.stringify(module)});`,
          ...lazy.map((name) => `exports[${JSON.stringify(name)}] = (...args) => load()[${JSON.stringify(name)}](...args);`),
        ].join('\n');
        builder.onLoad({ filter: new RegExp(`^${module}$`), namespace: 'stand-in' }, () => ({ contents, loader: 'js', resolveDir: REPO }));
      }
    },
  };
}

/**
 * Node's own modules are loaded with require(), also where the sources import them. An ES module import of a
 * built-in makes Node read every export of it once, which runs lazy getters: `import http from 'node:http'` loads
 * Node's bundled undici (for http.WebSocket), about 50 ms and 12 MiB that berth never uses. require() does not.
 */
const BUILTINS = new Set(builtinModules.flatMap((name) => (name.startsWith('node:') ? [name] : [name, `node:${name}`])));

function builtinsThroughRequire() {
  return {
    name: 'builtins-through-require',
    setup(builder) {
      builder.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
        if (!BUILTINS.has(args.path)) return undefined;
        if (args.kind === 'require-call') return { path: args.path, external: true };
        return { path: args.path, namespace: 'node-builtin' };
      });
      builder.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * Bundled CommonJS dependencies call require() for Node's own modules and use __dirname; an ES module has neither,
 * so every chunk gets them (a bundled module declaring one of these names at its top level would fail to load).
 * process.getBuiltinModule, not an import of node:module, for the reason given at builtinsThroughRequire.
 */
const COMMONJS_GLOBALS = [
  "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);",
  'const __filename = import.meta.filename;',
  'const __dirname = import.meta.dirname;',
].join('\n');

export async function bundle({ entry = path.join(REPO, 'src/cli.ts'), outdir = path.join(REPO, 'build/bundle') } = {}) {
  if (!fs.existsSync(entry)) throw new Error(`bundle: entry ${entry} does not exist (is the daemon written yet?)`);
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(outdir, { recursive: true });
  const used = new Set();
  const result = await build({
    // The listing thread's worker (src/cloud/listing-thread.ts) is started from a file of its own beside cli.js.
    entryPoints: { cli: entry, 'listing-worker': path.join(REPO, 'src/cloud/listing-worker.ts') },
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
    plugins: [builtinsThroughRequire(), redirectFileReads(used), inlineSchemaKeys(), separateModules()],
  });
  for (const { module, file } of SEPARATE) {
    const separate = await build({
      entryPoints: [module],
      outfile: path.join(outdir, file),
      absWorkingDir: REPO,
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'cjs',
      minify: true,
      keepNames: true,
      legalComments: 'eof',
      logLevel: 'warning',
      mainFields: ['module', 'main'],
      plugins: [redirectFileReads(used)],
    });
    const unhandledImportMeta = separate.warnings.filter((warning) => /import\.meta/.test(warning.text));
    if (unhandledImportMeta.length > 0) {
      const where = unhandledImportMeta.map((warning) => `${warning.location?.file}:${warning.location?.line}`).join(', ');
      throw new Error(`bundle: import.meta is empty in CommonJS ${file} and is used at ${where}`);
    }
  }
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
