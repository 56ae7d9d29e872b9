/**
 * Another architecture's Debian packages on this machine, for a plugin rootfs of that architecture (arm64 for
 * Graviton, built here on amd64): the packages and everything they depend on are downloaded from the Debian archive
 * this machine uses, by apt-get with a state of its own (its own sources list, package lists, cache and an empty
 * dpkg status; the machine's apt and dpkg configuration are never changed), and unpacked with `dpkg -x` into a
 * sysroot folder. Programs of the sysroot run under Debian's user-mode emulator (qemu-user-static), which also asks
 * the target's own loader which libraries a program needs.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { debianArchive, privateApt } from './private-apt.mjs';


/** Per Debian architecture: the emulator (Debian's qemu-user-static) and the loader programs name as interpreter. */
export const FOREIGN = {
  arm64: { emulator: '/usr/bin/qemu-aarch64-static', loader: '/lib/ld-linux-aarch64.so.1', strip: 'aarch64-linux-gnu-strip' },
};

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000, ...options });
}

export function foreignArch(arch) {
  const known = FOREIGN[arch];
  if (!known) throw new Error(`foreign-sysroot: no emulator known for ${arch} (known: ${Object.keys(FOREIGN).join(', ')})`);
  return known;
}

/**
 * Returns { root, packages, files } for `packages` of `arch` and their dependencies: root is the sysroot, packages
 * maps each unpacked package to its version, files maps each unpacked file (a path inside the sysroot) to its
 * package. Kept in `dir` and rebuilt when the package list or this file changes.
 */
export function ensureSysroot({ arch, packages, dir, log = console.error }) {
  const stamp = crypto.createHash('sha256').update(JSON.stringify({ arch, packages })).update(fs.readFileSync(new URL(import.meta.url))).digest('hex').slice(0, 16);
  const index = path.join(dir, 'sysroot.json');
  if (fs.existsSync(index)) {
    const known = JSON.parse(fs.readFileSync(index, 'utf8'));
    if (known.stamp === stamp && fs.existsSync(known.root)) return known;
  }
  const { archive, suite } = debianArchive();
  log(`foreign-sysroot: downloading ${packages.join(' ')} for ${arch} and their dependencies from ${archive} ${suite}`);
  const started = Date.now();
  fs.rmSync(dir, { recursive: true, force: true });
  const state = path.join(dir, 'apt');
  const apt = privateApt(state, { archive, suite, arch });
  run('apt-get', [...apt, '-qq', 'update']);
  run('apt-get', [...apt, '-qq', '-y', '--no-install-recommends', '--download-only', 'install', ...packages], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });

  const root = path.join(dir, 'sysroot');
  fs.mkdirSync(root, { recursive: true });
  const archives = path.join(state, 'cache/archives');
  const unpacked = {};
  const files = {};
  for (const deb of fs.readdirSync(archives).filter((name) => name.endsWith('.deb')).sort()) {
    const file = path.join(archives, deb);
    const [name, version] = run('dpkg-deb', ['--show', '--showformat', '${Package} ${Version}', file]).trim().split(' ');
    unpacked[name] = version;
    run('dpkg', ['-x', file, root]);
    for (const entry of listDeb(file)) files[entry] = name;
  }
  fs.rmSync(archives, { recursive: true, force: true });
  const result = { stamp, arch, root, packages: unpacked, files };
  fs.writeFileSync(index, `${JSON.stringify(result)}\n`);
  log(`foreign-sysroot: ${Object.keys(unpacked).length} packages unpacked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/** The paths (from /) of a package's regular files and symlinks. */
function listDeb(file) {
  return run('dpkg-deb', ['--contents', file], { maxBuffer: 1 << 26 })
    .split('\n')
    .filter((line) => /^[-l]/.test(line))
    .map((line) => /\s\.(\/\S+)/.exec(line)?.[1])
    .filter(Boolean);
}

/** Runs a program of the sysroot (a path inside it) under the emulator; returns its stdout. */
export function runForeign(arch, root, program, args, options = {}) {
  return run(foreignArch(arch).emulator, ['-L', root, path.join(root, program), ...args], options);
}

/**
 * The libraries (paths inside the sysroot) and loader a program of the sysroot needs, as the target's own loader
 * resolves them.
 */
export function foreignLibraries(arch, root, program) {
  const { emulator, loader } = foreignArch(arch);
  const out = run(emulator, ['-L', root, path.join(root, loader), '--list', program]);
  const libraries = [loader];
  for (const line of out.split('\n')) {
    if (/=>\s+not found/.test(line)) throw new Error(`foreign-sysroot: ${program} needs a library that is missing: ${line.trim()}`);
    const resolved = /=>\s+(\/\S+)\s+\(0x/.exec(line);
    if (resolved && !line.includes(loader)) libraries.push(resolved[1]);
  }
  return libraries;
}
