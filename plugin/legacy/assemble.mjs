#!/usr/bin/env node
/**
 * berth for the host (legacy mode) with the plugin's own Node.js runtime, so that it never depends on the host's
 * Node version: made from an assembled plugin (make plugin-rootfs), the same bundle and the same pinned Node.
 *
 *   node plugin/legacy/assemble.mjs [--plugin build/plugin] [--out build/legacy]
 *
 * Writes <out>/bin/node, <out>/berth/ (the bundled daemon: <out>/berth/cli.js) and <out>/berth.service (the systemd
 * unit, for the folder installed as /opt/berth).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function assembleLegacy({ plugin = 'build/plugin', out = 'build/legacy' } = {}) {
  const rootfs = path.join(plugin, 'rootfs');
  const node = path.join(rootfs, 'usr/local/bin/node');
  const app = path.join(rootfs, 'berth');
  for (const needed of [node, path.join(app, 'cli.js')]) {
    if (!fs.existsSync(needed)) throw new Error(`legacy: ${needed} is missing: assemble the plugin first (make plugin-rootfs)`);
  }
  const staging = `${out}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(path.join(staging, 'bin'), { recursive: true });
  fs.copyFileSync(node, path.join(staging, 'bin/node'));
  fs.chmodSync(path.join(staging, 'bin/node'), 0o755);
  fs.cpSync(app, path.join(staging, 'berth'), { recursive: true });
  fs.copyFileSync(path.join(HERE, 'berth.service'), path.join(staging, 'berth.service'));
  fs.rmSync(out, { recursive: true, force: true });
  fs.renameSync(staging, out);
  return { out, node: path.join(out, 'bin/node'), cli: path.join(out, 'berth/cli.js') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { plugin: { type: 'string' }, out: { type: 'string' } } });
  const built = assembleLegacy(values);
  process.stdout.write(`legacy: ${built.out} (run: ${built.node} ${built.cli} serve)\n`);
}
