/**
 * The Node.js runtime of the plugin, taken from the npm registry's `node-linux-<arch>` package (it holds the
 * official `bin/node`), so no download from anywhere but the npm registry. npm checks the tarball's integrity.
 * The binary is stripped of its debug symbols when `strip` can (about 120 MiB -> 104 MiB for x64) and cached
 * outside the repository (default /var/cache/berth/node/<arch>-<version>/node).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensurePackages } from './base.mjs';
import { FOREIGN } from './foreign-sysroot.mjs';

/** Node 24 LTS, pinned so that two builds of one commit carry the same runtime. */
export const DEFAULT_NODE_VERSION = '24.21.0';

/** Node's name for an architecture, from Debian's (amd64), the kernel's (x86_64) or Node's own (x64). */
export function nodeArch(arch) {
  const names = { amd64: 'x64', x86_64: 'x64', x64: 'x64', arm64: 'arm64', aarch64: 'arm64' };
  const name = names[arch];
  if (!name) throw new Error(`node-runtime: no Node.js package for architecture ${arch} (known: ${Object.keys(names).join(', ')})`);
  return name;
}

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** binutils' strip for this machine's binaries; the cross binutils' for another architecture's. */
function stripFor(node) {
  if (node === nodeArch(process.arch)) return { command: 'strip', pkg: 'binutils' };
  const debian = Object.keys(FOREIGN).find((arch) => nodeArch(arch) === node);
  return debian ? { command: FOREIGN[debian].strip, pkg: `binutils-${FOREIGN[debian].strip.replace(/-strip$/, '')}` } : undefined;
}

function canStrip(tool, log) {
  if (!tool) return false;
  const present = () => {
    try {
      run(tool.command, ['--version']);
      return true;
    } catch {
      return false;
    }
  };
  if (present()) return true;
  try {
    ensurePackages([tool.pkg], log);
  } catch (err) {
    log(`node-runtime: cannot install ${tool.pkg}: ${err.message}`);
  }
  return present();
}

/**
 * Returns { path, version, arch, stripped } of a cached node binary, fetching it with `npm pack` if needed.
 * version may be exact (24.21.0) or a range npm understands (24).
 */
export function ensureNode({
  version = DEFAULT_NODE_VERSION,
  arch = process.arch,
  cacheDir = '/var/cache/berth/node',
  log = console.error,
} = {}) {
  const node = nodeArch(arch);
  if (/^\d+\.\d+\.\d+$/.test(version)) {
    const cached = path.join(cacheDir, `${node}-${version}`, 'node.json');
    if (fs.existsSync(cached)) return JSON.parse(fs.readFileSync(cached, 'utf8'));
  }
  const spec = `node-linux-${node}@${version}`;
  log(`node-runtime: npm pack ${spec}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-node-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', spec, '--json', '--pack-destination', work], { cwd: work, timeout: 600_000 }));
    const { filename, version: exact, integrity } = packed[0];
    const dir = path.join(cacheDir, `${node}-${exact}`);
    const manifest = path.join(dir, 'node.json');
    if (fs.existsSync(manifest)) return JSON.parse(fs.readFileSync(manifest, 'utf8'));

    run('tar', ['-xzf', path.join(work, filename), '-C', work, 'package/bin/node']);
    const binary = path.join(work, 'package/bin/node');
    let stripped = false;
    const strip = stripFor(node);
    if (canStrip(strip, log)) {
      try {
        run(strip.command, ['--strip-all', binary]);
        stripped = true;
      } catch (err) {
        log(`node-runtime: keeping debug symbols, strip failed: ${String(err.stderr ?? err.message).trim()}`);
      }
    } else {
      log('node-runtime: strip (binutils) is not installed: the runtime keeps its debug symbols (+16 MiB)');
    }
    if (node === nodeArch(process.arch)) {
      const reported = run(binary, ['--version']).trim();
      if (reported !== `v${exact}`) throw new Error(`node-runtime: ${spec} reports ${reported}, expected v${exact}`);
    }
    const staging = `${dir}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    fs.copyFileSync(binary, path.join(staging, 'node'));
    fs.chmodSync(path.join(staging, 'node'), 0o755);
    const result = { path: path.join(dir, 'node'), version: exact, arch: node, integrity, stripped };
    fs.writeFileSync(path.join(staging, 'node.json'), `${JSON.stringify(result, null, 2)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
    return result;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
