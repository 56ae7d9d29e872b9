#!/usr/bin/env node
/**
 * Assembles the managed plugin directory Docker's `docker plugin create NAME DIR` takes:
 *
 *   DIR/config.json   the manifest (the repository's top-level config.json)
 *   DIR/rootfs/       Debian base (plugin/base.mjs) + Node runtime (plugin/node-runtime.mjs) + the bundled daemon
 *
 *   node plugin/assemble.mjs [--out build/plugin] [--entry src/cli.ts] [--node-version 24.21.0]
 *                            [--cache /var/cache/berth] [--arch amd64] [--if-stale] [--json]
 *
 * --if-stale: do nothing when DIR was built from the same inputs (sources, package files, manifest, these scripts,
 * the Debian base and the runtime version). The rootfs is checked inside a chroot before it replaces DIR.
 * --json: print the result ({ dir, rebuilt, rootfsBytes, seconds }) as one JSON line.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addSharedLibraries, debianArch, ensureBase, TOOLS } from './base.mjs';
import { foreignArch } from './foreign-sysroot.mjs';
import { bundle } from './bundle.mjs';
import { DEFAULT_NODE_VERSION, ensureNode, nodeArch } from './node-runtime.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME_IN_ROOTFS = 'usr/local/bin/node';
const APP_IN_ROOTFS = 'berth';
const INPUTS_FILE = '.inputs';
/** The CLI for the host (plugin/berth-on-host.sh), at /berth/berth in the rootfs. */
const HOST_CLI_NAME = 'berth';

/** Host tools that berth might be changed to run; a bundle naming one the rootfs lacks gets a loud warning. */
const KNOWN_TOOLS = [
  ...TOOLS, 'nvme', 'lsblk', 'wipefs', 'udevadm', 'xfs_admin', 'xfs_io', 'tune2fs', 'e2label', 'sgdisk', 'partprobe',
  'fsfreeze', 'mkfs.btrfs', 'btrfs', 'cryptsetup', 'sync', 'dd', 'stat', 'nsenter',
];

function listFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

/** A hash of everything the plugin directory is made from. */
function inputsHash({ entry, nodeVersion, baseStamp }) {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ entry: path.relative(REPO, entry), nodeVersion, baseStamp }));
  const files = [
    ...listFiles(path.join(REPO, 'src')),
    ...listFiles(path.join(REPO, 'plugin')).filter((file) => file.endsWith('.mjs') || file.endsWith('.sh')),
    path.join(REPO, 'config.json'),
    path.join(REPO, 'package.json'),
    path.join(REPO, 'package-lock.json'),
  ];
  if (!entry.startsWith(path.join(REPO, 'src') + path.sep)) files.push(entry);
  for (const file of files) {
    hash.update(path.relative(REPO, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

/** The manifest, checked for what Docker would only reject at create or enable time. */
export function readManifest(file = path.join(REPO, 'config.json')) {
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  const problems = [];
  if (!Array.isArray(manifest.entrypoint) || manifest.entrypoint.length === 0) problems.push('entrypoint must be a non-empty array');
  if (!manifest.interface?.socket || manifest.interface.socket.includes('/')) problems.push('interface.socket must be a file name');
  if (!manifest.interface?.types?.includes('docker.volumedriver/1.0')) problems.push('interface.types must include docker.volumedriver/1.0');
  if (!manifest.propagatedMount?.startsWith('/')) problems.push('propagatedMount must be an absolute path');
  const names = new Set();
  for (const env of manifest.env ?? []) {
    if (names.has(env.name)) problems.push(`env ${env.name} is declared twice`);
    names.add(env.name);
    if ('value' in env && typeof env.value !== 'string') problems.push(`env ${env.name}: value must be a string`);
  }
  if (problems.length > 0) throw new Error(`config.json: ${problems.join('; ')}`);
  return manifest;
}

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function duBytes(dir) {
  return Number(run('du', ['-sb', dir]).split(/\s+/)[0]);
}

/** Where the emulator is put inside a rootfs of another architecture while it is checked (removed afterwards). */
const EMULATOR_IN_ROOTFS = '.emulator';
const ROOTFS_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** A command's path inside the rootfs, as PATH finds it there. */
function inRootfs(rootfs, command) {
  if (command.startsWith('/')) return command;
  const dir = ROOTFS_PATH.find((candidate) => {
    try {
      fs.accessSync(path.join(rootfs, candidate, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!dir) throw new Error(`assemble: ${command} is not in the rootfs`);
  return path.posix.join(dir, command);
}

function isScript(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const start = Buffer.alloc(2);
    fs.readSync(fd, start, 0, 2, 0);
    return start.toString() === '#!';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Runs the rootfs's own programs in a chroot: every tool must load its libraries, the daemon must start. A rootfs
 * of another architecture runs them under its emulator (copied into the rootfs for the check): there, a shell
 * script cannot start the programs it runs (nothing tells the kernel about the emulator), so scripts are only
 * parsed, and the programs they run are checked themselves.
 */
function verifyRootfs(rootfs, manifest, arch, log) {
  if (process.getuid?.() !== 0) {
    log('assemble: not root, skipping the chroot check of the rootfs');
    return;
  }
  const foreign = arch === debianArch() ? undefined : foreignArch(arch);
  if (foreign) {
    fs.mkdirSync(path.join(rootfs, EMULATOR_IN_ROOTFS));
    fs.copyFileSync(foreign.emulator, path.join(rootfs, EMULATOR_IN_ROOTFS, path.basename(foreign.emulator)));
    fs.chmodSync(path.join(rootfs, EMULATOR_IN_ROOTFS, path.basename(foreign.emulator)), 0o755);
  }
  try {
    verifyInChroot(rootfs, manifest, foreign && `/${EMULATOR_IN_ROOTFS}/${path.basename(foreign.emulator)}`);
  } finally {
    if (foreign) fs.rmSync(path.join(rootfs, EMULATOR_IN_ROOTFS), { recursive: true, force: true });
  }
}

function verifyInChroot(rootfs, manifest, emulator) {
  const env = { PATH: ROOTFS_PATH.join(':'), LC_ALL: 'C' };
  const chrooted = ([command, ...args]) => {
    if (!emulator) return [rootfs, command, ...args];
    const program = inRootfs(rootfs, command);
    return isScript(path.join(rootfs, program)) ? [rootfs, emulator, inRootfs(rootfs, 'sh'), '-n', program] : [rootfs, emulator, program, ...args];
  };
  const check = (args, exitCodes = [0]) => {
    try {
      return run('chroot', chrooted(args), { env, timeout: 120_000 });
    } catch (err) {
      if (typeof err.status === 'number' && exitCodes.includes(err.status)) return err.stdout;
      throw new Error(`assemble: in the rootfs, ${args.join(' ')} failed: ${String(err.stderr || err.stdout || err.message).trim()}`);
    }
  };
  check([`/${RUNTIME_IN_ROOTFS}`, '-e', 'require("node:crypto").randomUUID()']);
  // Every tool must load its libraries (the loader exits 127 when one is missing).
  for (const tool of TOOLS) {
    if (tool === 'sh') check(['sh', '-c', ':']);
    else if (tool === 'fsck.xfs') check(['fsck.xfs', '-a', '/nonexistent'], [8]);
    else if (tool === 'resize2fs') check(['resize2fs'], [1]);
    else if (tool === 'fsck' || tool === 'tail') check([tool, '--version']);
    else if (tool === 'xfs_info') check(['xfs_info', '-V']);
    else if (tool === 'findmnt' || tool === 'losetup') check([tool, '--version']);
    else check([tool, '-V']);
  }
  // The entrypoint itself, with --help: loads the whole bundle and the settings schema, starts nothing. Run with
  // the manifest's fixed environment, so the compile cache it names is warm for the plugin's first start.
  const fixed = Object.fromEntries((manifest.env ?? []).filter((e) => !e.settable && e.value !== undefined).map((e) => [e.name, e.value]));
  try {
    run('chroot', chrooted([...manifest.entrypoint, '--help']), { env: { ...env, ...fixed }, timeout: 300_000 });
  } catch (err) {
    throw new Error(`assemble: in the rootfs, ${manifest.entrypoint.join(' ')} --help failed: ${String(err.stderr || err.message).trim()}`);
  }
}

/**
 * Warns when the daemon's own sources (as bundled, per esbuild's metafile; the local EC2 simulator excluded)
 * name a known host tool that the rootfs lacks.
 */
function warnAboutMissingTools(bundleDir, rootfs, log) {
  const meta = JSON.parse(fs.readFileSync(path.join(bundleDir, 'meta.json'), 'utf8'));
  const sources = Object.keys(meta.inputs).filter((file) => file.startsWith('src/') && !file.startsWith('src/localec2/'));
  const text = sources.map((file) => fs.readFileSync(path.join(REPO, file), 'utf8')).join('\n');
  const dirs = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin'];
  for (const tool of KNOWN_TOOLS) {
    const named = new RegExp(`["'\`]${tool.replace(/\./g, '\\.')}["'\`]`).test(text);
    const present = dirs.some((dir) => fs.existsSync(path.join(rootfs, dir, tool)));
    if (named && !present) log(`assemble: WARNING: the daemon runs "${tool}" but the rootfs has no such tool (add it to TOOLS in plugin/base.mjs)`);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code !== 'ESRCH';
  }
}

/** Runs fn holding an exclusive lock file (O_EXCL, holder's pid inside; a dead holder's lock is taken over). */
async function withLock(file, log, fn, timeoutMs = 30 * 60_000) {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, 'utf8').trim() || 0);
    if (holder > 0 && !alive(holder)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`assemble: ${file} is still held by process ${holder}`);
    if (!told) log(`assemble: waiting for process ${holder}, which is building (${file})`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * Earlier releases kept the state in the rootfs at /var/lib/berth, which `docker plugin upgrade` replaces; a plugin
 * installed from one keeps EBS_STATEDIR=/var/lib/berth after upgrades (Docker keeps the environment of the install).
 * That path is a link to the state dir the manifest declares, in the propagated mount, which upgrades keep.
 */
function linkOldStateDir(rootfs, manifest) {
  const stateDir = manifest.env.find((entry) => entry.name === 'EBS_STATEDIR').value;
  const old = path.join(rootfs, 'var/lib/berth');
  fs.mkdirSync(path.dirname(old), { recursive: true });
  fs.rmSync(old, { recursive: true, force: true });
  fs.symlinkSync(path.relative('/var/lib', stateDir), old);
}

/**
 * Builds the plugin directory; returns { dir, rebuilt, rootfsBytes, seconds }.
 * Safe to call from tests: output goes to a staging directory that replaces `out` only when complete and checked.
 */
export async function assemble({
  out = path.join(REPO, 'build/plugin'),
  entry = path.join(REPO, 'src/cli.ts'),
  nodeVersion = DEFAULT_NODE_VERSION,
  cache = '/var/cache/berth',
  arch = debianArch(),
  ifStale = false,
  log = console.error,
} = {}) {
  const started = Date.now();
  nodeArch(arch); // refuses an architecture Node.js is not published for
  if (arch !== debianArch()) foreignArch(arch);
  const manifest = readManifest();
  fs.mkdirSync(cache, { recursive: true });
  // Tests may build from several processes at once: one build at a time per cache (and so per machine).
  return withLock(path.join(cache, 'assemble.lock'), log, () => assembleLocked({ out, entry, nodeVersion, cache, arch, ifStale, log, manifest, started }));
}

async function assembleLocked({ out, entry, nodeVersion, cache, arch, ifStale, log, manifest, started }) {
  const base = ensureBase({ arch, cacheDir: path.join(cache, 'plugin-base'), log });
  const inputs = inputsHash({ entry, nodeVersion, baseStamp: base.stamp });
  const inputsFile = path.join(out, INPUTS_FILE);
  if (ifStale && fs.existsSync(inputsFile) && fs.readFileSync(inputsFile, 'utf8').trim() === inputs) {
    return { dir: out, rebuilt: false, rootfsBytes: duBytes(path.join(out, 'rootfs')), seconds: (Date.now() - started) / 1000 };
  }

  const node = ensureNode({ version: nodeVersion, arch, cacheDir: path.join(cache, 'node'), log });
  const bundleDir = path.join(path.dirname(out), `${path.basename(out)}-bundle`);
  const bundled = await bundle({ entry, outdir: bundleDir });

  const staging = `${out}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    const rootfs = path.join(staging, 'rootfs');
    run('cp', ['-a', base.rootfs, rootfs]);
    const runtime = path.join(rootfs, RUNTIME_IN_ROOTFS);
    fs.mkdirSync(path.dirname(runtime), { recursive: true });
    fs.copyFileSync(node.path, runtime);
    fs.chmodSync(runtime, 0o755);
    addSharedLibraries(rootfs, node.path, base);

    const app = path.join(rootfs, APP_IN_ROOTFS);
    fs.mkdirSync(app, { recursive: true });
    for (const file of fs.readdirSync(bundled.outdir)) {
      if (file === 'meta.json') continue;
      fs.copyFileSync(path.join(bundled.outdir, file), path.join(app, file));
    }
    fs.copyFileSync(path.join(REPO, 'plugin/berth-on-host.sh'), path.join(app, HOST_CLI_NAME));
    fs.chmodSync(path.join(app, HOST_CLI_NAME), 0o755);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const info = { name: pkg.name, version: pkg.version, commit: gitCommit(), node: node.version, arch: node.arch, debianBase: base.stamp };
    fs.writeFileSync(path.join(app, 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
    linkOldStateDir(rootfs, manifest);
    // `docker plugin ls` and `inspect` show the description: it names the release.
    const described = { ...manifest, description: manifest.description.replace(/^berth:/, `berth ${pkg.version}:`) };
    fs.writeFileSync(path.join(staging, 'config.json'), `${JSON.stringify(described, null, 2)}\n`);

    warnAboutMissingTools(bundled.outdir, rootfs, log);
    verifyRootfs(rootfs, manifest, arch, log);
    fs.writeFileSync(path.join(staging, INPUTS_FILE), `${inputs}\n`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.renameSync(staging, out);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return { dir: out, rebuilt: true, rootfsBytes: duBytes(path.join(out, 'rootfs')), seconds: (Date.now() - started) / 1000 };
}

/** The commit built: git's, or BERTH_COMMIT where there is no .git (the Dockerfile's build stage). */
function gitCommit() {
  try {
    return run('git', ['-C', REPO, 'rev-parse', 'HEAD']).trim();
  } catch {
    return process.env.BERTH_COMMIT || 'unknown';
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      entry: { type: 'string' },
      'node-version': { type: 'string' },
      cache: { type: 'string' },
      arch: { type: 'string' },
      'if-stale': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const options = {
    ...(values.out && { out: path.resolve(values.out) }),
    ...(values.entry && { entry: path.resolve(values.entry) }),
    ...(values['node-version'] && { nodeVersion: values['node-version'] }),
    ...(values.cache && { cache: path.resolve(values.cache) }),
    ...(values.arch && { arch: values.arch }),
    ifStale: Boolean(values['if-stale']),
  };
  assemble(options).then(
    (result) => {
      if (values.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const mib = (result.rootfsBytes / 1024 / 1024).toFixed(1);
      const what = result.rebuilt ? 'assembled' : 'up to date';
      console.log(`plugin: ${path.relative(process.cwd(), result.dir) || '.'} ${what}, rootfs ${mib} MiB, ${result.seconds.toFixed(1)} s`);
    },
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
