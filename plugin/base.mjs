/**
 * The Debian-derived part of the plugin rootfs: only the tools berth runs, the libraries `ldd` lists for them
 * (and the dynamic loader), CA certificates and a minimal /etc. Copied from this machine's installed Debian
 * packages (installed with apt-get when missing), so it builds without any container registry.
 *
 * For another architecture (arm64, built here on amd64) the same files come from that architecture's Debian packages,
 * unpacked into a sysroot (plugin/foreign-sysroot.mjs), and the target's own loader, run under emulation, names the
 * libraries each tool needs.
 *
 * The result is cached outside the repository (default /var/cache/berth/plugin-base/<arch>) and rebuilt when it
 * is missing or when the tool list, this script or the versions of the packages it copies from have changed.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSysroot, foreignLibraries } from './foreign-sysroot.mjs';

/** Debian packages the tools come from. */
export const PACKAGES = ['e2fsprogs', 'xfsprogs', 'util-linux', 'mount', 'ca-certificates', 'dash', 'coreutils', 'libc-bin'];

/**
 * What berth (src/host) runs, by command name as found on PATH, plus what those run in turn. Names that are
 * symlinks on the host (mkfs.ext4 -> mke2fs) stay symlinks.
 * - xfs_info is a shell script: it runs losetup, tail, findmnt, then xfs_spaceman (mounted) or xfs_db.
 * - fsck runs fsck.<type>; fsck.xfs is a shell script. Both are kept for `fsck -a` though berth runs e2fsck -p.
 */
export const TOOLS = [
  'mke2fs', 'mkfs.ext4', 'e2fsck', 'fsck.ext4', 'resize2fs', 'dumpe2fs',
  'mkfs.xfs', 'xfs_repair', 'xfs_growfs', 'xfs_info', 'xfs_spaceman', 'xfs_db', 'fsck.xfs',
  'fsck', 'blkid', 'mount', 'umount', 'blockdev', 'findmnt', 'losetup',
  'sh', 'tail',
];

/** Configuration files the tools read; copied when present so behaviour matches the host's tools. */
const CONFIG_FILES = ['/etc/mke2fs.conf'];
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_CONFIG = '/etc/ca-certificates.conf';
const CA_SOURCE_DIR = '/usr/share/ca-certificates';
/** Debian's own directories only: a locally installed tool in /usr/local is not from a Debian package. */
const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const THIS_FILE = fileURLToPath(import.meta.url);
/** In the rootfs: which Debian package and version each copied file came from. */
export const DEBIAN_FILES = 'usr/share/berth/debian-files.txt';

const ETC_FILES = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  // Docker bind-mounts the host's /etc/hosts and /etc/resolv.conf over these for host-network plugins.
  'etc/hosts': '127.0.0.1 localhost\n',
  'etc/resolv.conf': '',
  // fsck reads fstab; mount wants an mtab: the kernel's view is the only truth inside the plugin.
  'etc/fstab': '',
};
const DIRECTORIES = {
  tmp: 0o1777,
  root: 0o700,
  proc: 0o755,
  sys: 0o755,
  dev: 0o755,
  'run/docker/plugins': 0o755,
  'var/lib/berth': 0o700,
  'var/lib/libstorage/volumes': 0o755,
  'var/cache/node': 0o700,
};

function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** The Debian architecture of this machine (amd64, arm64). */
export function debianArch() {
  return run('dpkg', ['--print-architecture']).trim();
}

/** package -> version for those installed; missing ones absent. */
function installedVersions(packages) {
  let out = '';
  try {
    out = run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Abbrev} ${Version}\n', ...packages]);
  } catch (err) {
    out = String(err.stdout ?? ''); // dpkg-query exits 1 when some package is unknown
  }
  const versions = {};
  for (const line of out.split('\n')) {
    const [name, status, version] = line.trim().split(/\s+/);
    if (name && status === 'ii' && version) versions[name] = version;
  }
  return versions;
}

/** apt-get install the packages that are missing; returns the versions of all of them. */
export function ensurePackages(packages = PACKAGES, log = console.error) {
  let versions = installedVersions(packages);
  const missing = packages.filter((name) => !versions[name]);
  if (missing.length > 0) {
    log(`plugin-base: installing ${missing.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env, timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env, timeout: 600_000 });
    versions = installedVersions(packages);
    const still = packages.filter((name) => !versions[name]);
    if (still.length > 0) throw new Error(`plugin-base: could not install ${still.join(' ')}`);
  }
  return versions;
}

/**
 * Where the files come from: this machine (root /, its dpkg database, ldd) or a sysroot of another architecture's
 * packages (its own index, the target's loader under emulation). Paths are as seen from the source's root.
 */
function hostSource() {
  return { arch: debianArch(), root: '/', libraries: sharedLibraries, owner: owningPackage, versionOf: (name) => installedVersions([name])[name] };
}

function sysrootSource(arch, sysroot) {
  return {
    arch,
    root: sysroot.root,
    libraries: (file) => foreignLibraries(arch, sysroot.root, file),
    owner: (file) => sysroot.files[file] ?? sysroot.files[realpathIn(sysroot.root, file)],
    versionOf: (name) => sysroot.packages[name],
  };
}

function findOnPath(name, source) {
  for (const dir of SEARCH_DIRS) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(path.join(source.root, candidate), fs.constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  throw new Error(`plugin-base: ${name} is not installed (looked in ${SEARCH_DIRS.join(' ')})`);
}

function isElf(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    fs.readSync(fd, magic, 0, 4, 0);
    return magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    fs.closeSync(fd);
  }
}

/** Absolute paths of the shared libraries and loader an ELF file needs, as `ldd` resolves them here. */
export function sharedLibraries(file) {
  const out = run('ldd', [file]);
  const libraries = [];
  for (const line of out.split('\n')) {
    const resolved = /=>\s+(\/\S+)/.exec(line);
    const loader = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (/=>\s+not found/.test(line)) throw new Error(`plugin-base: ${file} needs a library that is missing: ${line.trim()}`);
    if (resolved) libraries.push(resolved[1]);
    else if (loader) libraries.push(loader[1]);
  }
  return libraries;
}

function lexists(file) {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

const MERGED_INTO_USR = ['bin', 'sbin', 'lib'];

/** A path inside `root` with every symlink resolved inside `root` too (an absolute link target is taken from it). */
function realpathIn(root, file) {
  const parts = file.split('/').filter(Boolean);
  let resolved = '/';
  for (let i = 0, hops = 0; i < parts.length; i++) {
    const next = path.posix.join(resolved, parts[i]);
    let stat;
    try {
      stat = fs.lstatSync(path.join(root, next));
    } catch {
      return path.posix.join(next, ...parts.slice(i + 1));
    }
    if (!stat.isSymbolicLink()) {
      resolved = next;
      continue;
    }
    if (++hops > 40) throw new Error(`plugin-base: too many symlinks under ${root} in ${file}`);
    const link = fs.readlinkSync(path.join(root, next));
    const rest = parts.slice(i + 1);
    parts.splice(0, parts.length, ...(link.startsWith('/') ? link : path.posix.join(resolved, link)).split('/').filter(Boolean), ...rest);
    resolved = '/';
    i = -1;
  }
  return resolved;
}

/**
 * Copies paths of a package source (this machine, root /, or a foreign sysroot) into a rootfs at the same
 * (canonical) place, keeping symlinks as symlinks and following them to copy their targets too. Writes only under
 * the rootfs: paths are resolved in the source first, so a symlink inside the rootfs is never followed while
 * building.
 */
class RootfsWriter {
  constructor(root, sourceRoot = '/') {
    this.root = root;
    this.sourceRoot = sourceRoot;
    this.copied = new Set();
    const bin = path.join(sourceRoot, 'bin');
    this.mergesUsr = !(lexists(bin) && fs.lstatSync(bin).isSymbolicLink());
  }

  /**
   * The rootfs has merged /usr (/bin -> usr/bin, ...): mirrored from the source where it has them (this machine),
   * made where it does not (a sysroot of unpacked packages, whose /bin, /sbin and /lib files then go under usr/).
   */
  mirrorTopLevelLinks() {
    if (this.mergesUsr) {
      for (const name of MERGED_INTO_USR) fs.symlinkSync(`usr/${name}`, path.join(this.root, name));
      return;
    }
    for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
      let stat;
      try {
        stat = fs.lstatSync(path.join(this.sourceRoot, name));
      } catch {
        continue;
      }
      if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(path.join(this.sourceRoot, name)), path.join(this.root, name));
    }
  }

  target(sourcePath) {
    const dir = realpathIn(this.sourceRoot, path.posix.dirname(sourcePath));
    const canonical = path.posix.join(dir, path.posix.basename(sourcePath));
    const top = canonical.split('/')[1];
    const placed = this.mergesUsr && MERGED_INTO_USR.includes(top) ? `/usr${canonical}` : canonical;
    return { canonical, inSource: path.join(this.sourceRoot, canonical), inRoot: path.join(this.root, placed) };
  }

  /** Copies a source path (a file or a symlink chain); returns the canonical source paths of regular files copied. */
  copy(sourcePath) {
    const { canonical, inSource, inRoot } = this.target(sourcePath);
    if (this.copied.has(canonical)) return [];
    this.copied.add(canonical);
    if (lexists(inRoot)) return [];
    fs.mkdirSync(path.dirname(inRoot), { recursive: true });
    const stat = fs.lstatSync(inSource);
    if (stat.isSymbolicLink()) {
      const link = fs.readlinkSync(inSource);
      fs.symlinkSync(link, inRoot);
      return this.copy(link.startsWith('/') ? link : path.posix.resolve(path.posix.dirname(canonical), link));
    }
    if (!stat.isFile()) throw new Error(`plugin-base: ${inSource} is not a regular file`);
    fs.copyFileSync(inSource, inRoot);
    fs.chmodSync(inRoot, stat.mode & 0o7777);
    return [canonical];
  }
}

/**
 * Adds to an assembled rootfs the shared libraries an ELF file of this machine (placed there separately) needs,
 * from the Debian packages of the base's architecture (`base`, as ensureBase returns it). Returns the paths added.
 */
export function addSharedLibraries(root, elfFile, base) {
  const source = base?.source ?? hostSource();
  const writer = new RootfsWriter(root, source.root);
  const added = source.libraries(elfFile).flatMap((library) => writer.copy(library));
  recordProvenance(root, added, source);
  return added;
}

/** Debian package owning a file; merged-/usr means dpkg may know it under /bin, /sbin or /lib instead. */
function owningPackage(file) {
  const candidates = new Set([file]);
  for (const [usr, top] of [['/usr/bin/', '/bin/'], ['/usr/sbin/', '/sbin/'], ['/usr/lib/', '/lib/'], ['/usr/lib64/', '/lib64/']]) {
    if (file.startsWith(usr)) candidates.add(top + file.slice(usr.length));
    if (file.startsWith(top)) candidates.add(usr + file.slice(top.length));
  }
  for (const candidate of candidates) {
    try {
      const line = run('dpkg-query', ['-S', candidate]).split('\n').find((text) => !text.startsWith('diversion'));
      if (line) return line.split(':')[0].split(',')[0].trim();
    } catch {
      // not known under this name
    }
  }
  return undefined;
}

function stampOf(arch, versions) {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ arch, versions, tools: TOOLS, configFiles: CONFIG_FILES, etc: ETC_FILES, dirs: DIRECTORIES }));
  hash.update(fs.readFileSync(THIS_FILE));
  return hash.digest('hex').slice(0, 16);
}

/** What a rootfs of another architecture needs on this machine: the emulator and that architecture's strip. */
const FOREIGN_HOST_PACKAGES = ['qemu-user-static', 'binutils-aarch64-linux-gnu', 'ca-certificates'];

/**
 * Returns the directory of an up-to-date base rootfs for `arch` (Debian's name; default this machine's), building
 * it if needed. Options: arch, cacheDir (default /var/cache/berth/plugin-base), log.
 */
export function ensureBase({ arch = debianArch(), cacheDir = '/var/cache/berth/plugin-base', log = console.error } = {}) {
  let source;
  let versions;
  if (arch === debianArch()) {
    source = hostSource();
    versions = ensurePackages(PACKAGES, log);
  } else {
    const host = ensurePackages(FOREIGN_HOST_PACKAGES, log);
    // The CA bundle is made from this machine's certificates (ca-certificates is the same for every architecture).
    const packages = PACKAGES.filter((name) => name !== 'ca-certificates');
    const sysroot = ensureSysroot({ arch, packages, dir: path.join(cacheDir, `${arch}-sysroot`), log });
    source = sysrootSource(arch, sysroot);
    versions = { ...Object.fromEntries(packages.map((name) => [name, sysroot.packages[name]])), 'ca-certificates': host['ca-certificates'] };
  }
  const stamp = stampOf(arch, versions);
  const dir = path.join(cacheDir, arch);
  const stampFile = path.join(dir, 'stamp');
  const rootfs = path.join(dir, 'rootfs');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === stamp && fs.existsSync(rootfs)) {
    return { rootfs, stamp, arch, source, rebuilt: false };
  }
  log(`plugin-base: building ${dir}`);
  const started = Date.now();
  fs.rmSync(dir, { recursive: true, force: true });
  const staging = `${dir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const root = path.join(staging, 'rootfs');
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  buildBaseRootfs(root, versions, source);
  fs.writeFileSync(path.join(staging, 'stamp'), `${stamp}\n`);
  fs.renameSync(staging, dir);
  log(`plugin-base: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { rootfs, stamp, arch, source, rebuilt: true };
}

function buildBaseRootfs(root, versions, source) {
  const writer = new RootfsWriter(root, source.root);
  writer.mirrorTopLevelLinks();
  const files = [];
  for (const tool of TOOLS) {
    const found = findOnPath(tool, source);
    files.push(...writer.copy(found));
  }
  for (const file of [...files]) {
    if (!isElf(path.join(source.root, file))) continue;
    for (const library of source.libraries(file)) files.push(...writer.copy(library));
  }
  for (const config of CONFIG_FILES) if (fs.existsSync(path.join(source.root, config))) files.push(...writer.copy(config));
  fs.mkdirSync(path.join(root, 'etc/ssl/certs'), { recursive: true });
  fs.writeFileSync(path.join(root, CA_BUNDLE), debianCaBundle(), { mode: 0o644 });

  for (const [relative, content] of Object.entries(ETC_FILES)) {
    fs.mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
    fs.writeFileSync(path.join(root, relative), content, { mode: 0o644 });
  }
  fs.symlinkSync('../proc/self/mounts', path.join(root, 'etc/mtab'));
  for (const [relative, mode] of Object.entries(DIRECTORIES)) {
    fs.mkdirSync(path.join(root, relative), { recursive: true });
    fs.chmodSync(path.join(root, relative), mode);
  }

  recordProvenance(root, files, source);
  fs.appendFileSync(
    path.join(root, DEBIAN_FILES),
    `ca-certificates ${versions['ca-certificates']}\n  ${CA_BUNDLE} (the certificates enabled in ${CA_CONFIG})\n`,
  );
  copyCopyright(root, 'ca-certificates', hostSource());
}

/**
 * The CA bundle as Debian's ca-certificates package makes it, from the package's own certificates enabled in
 * /etc/ca-certificates.conf, but without the certificates this machine added locally (/usr/local/share/...):
 * those belong to the build machine, not to every host the plugin will run on.
 */
function debianCaBundle() {
  const enabled = fs
    .readFileSync(CA_CONFIG, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !line.startsWith('!'));
  const pems = enabled
    .map((relative) => path.join(CA_SOURCE_DIR, relative))
    .filter((file) => fs.existsSync(file))
    .map((file) => fs.readFileSync(file, 'utf8').trim());
  if (pems.length < 50) throw new Error(`plugin-base: only ${pems.length} CA certificates found through ${CA_CONFIG}`);
  return `${pems.join('\n')}\n`;
}

/** Copies a package's copyright file; identical texts (util-linux's libraries, gcc's) become hard links. */
function copyCopyright(root, pkg, source) {
  const name = pkg.split(':')[0];
  const copyright = path.join(source.root, `usr/share/doc/${name}/copyright`);
  const target = path.join(root, 'usr/share/doc', name, 'copyright');
  if (!fs.existsSync(copyright) || fs.existsSync(target)) return;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const text = fs.readFileSync(copyright);
  const docs = path.join(root, 'usr/share/doc');
  const twin = fs
    .readdirSync(docs)
    .map((other) => path.join(docs, other, 'copyright'))
    .find((other) => other !== target && fs.existsSync(other) && fs.readFileSync(other).equals(text));
  if (twin) fs.linkSync(twin, target);
  else fs.writeFileSync(target, text, { mode: 0o644 });
}

/** Licences and provenance: appends which Debian package (and version) each copied file came from. */
function recordProvenance(root, files, source) {
  const owners = new Map();
  for (const file of files) {
    const owner = source.owner(file) ?? '(not from a package)';
    owners.set(owner, [...(owners.get(owner) ?? []), file]);
  }
  const lines = [...owners.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pkg, list]) => {
      const name = pkg.split(':')[0];
      return `${pkg} ${source.versionOf(name) ?? ''}\n${list.map((file) => `  ${file}`).join('\n')}\n`;
    });
  fs.mkdirSync(path.dirname(path.join(root, DEBIAN_FILES)), { recursive: true });
  fs.appendFileSync(path.join(root, DEBIAN_FILES), lines.join(''));
  for (const pkg of owners.keys()) copyCopyright(root, pkg, source);
}
