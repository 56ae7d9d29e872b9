/**
 * The Docker engines the end-to-end and swarm suites run against (DOCKER_ENGINE): `bookworm`, the machine's
 * installed docker.io (Debian 12, Docker 20.10), and `trixie` (26.1) and `sid` (28.x), whose docker.io package
 * is downloaded from Debian's archive and unpacked into a cache folder (dpkg -x), once. Nothing is installed and
 * the machine's apt configuration is never changed: apt runs with a sources list, package lists and cache of its
 * own. The unpacked engine uses the machine's containerd and runc (bookworm's) and the machine's docker CLI.
 *
 *   node test/support/docker-engines.mjs <engine>             fetches it if needed; prints {name, binDirs, dockerd, package}
 *   node test/support/docker-engines.mjs --announce <engine>  ... and prints one line: the engine and dockerd's version
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianArchive, privateApt } from '../../plugin/private-apt.mjs';

export const ENGINES = ['bookworm', 'trixie', 'sid'];
export const DEFAULT_ENGINE = 'bookworm';
const INSTALLED = 'bookworm';
const DEFAULT_CACHE = '/var/cache/berth/engines';

function fetchEngine(name, dir, log) {
  const scratch = path.join(dir, 'download');
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  const { archive } = debianArchive();
  const apt = privateApt(path.join(dir, 'apt'), { archive, suite: name });
  log(`docker-engines: fetching docker.io of Debian ${name} from ${archive} into ${dir}`);
  const run = (args, cwd) => execFileSync('apt-get', [...apt, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  run(['-qq', 'update']);
  run(['-qq', 'download', 'docker.io'], scratch);
  const deb = fs.readdirSync(scratch).find((file) => /^docker\.io_.*\.deb$/.test(file));
  if (!deb) throw new Error(`docker-engines: apt-get download docker.io (${name}) left no package in ${scratch}`);
  const unpacking = path.join(dir, 'root.partial');
  fs.rmSync(unpacking, { recursive: true, force: true });
  execFileSync('dpkg', ['-x', path.join(scratch, deb), unpacking], { stdio: ['ignore', 'pipe', 'pipe'] });
  const root = path.join(dir, 'root');
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(unpacking, root);
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.writeFileSync(path.join(dir, 'engine.json'), `${JSON.stringify({ package: deb.replace(/\.deb$/, ''), fetchedAt: new Date().toISOString() })}\n`);
}

/**
 * Where the engine's programs are: `binDirs` go first in PATH (dockerd, docker-init, docker-proxy), `dockerd` is
 * the daemon's path. Fetches an engine that is not in the cache yet.
 */
export function ensureEngine(name = DEFAULT_ENGINE, { cacheDir = DEFAULT_CACHE, log = console.error } = {}) {
  if (!ENGINES.includes(name)) throw new Error(`DOCKER_ENGINE must be one of ${ENGINES.join(', ')} (got ${JSON.stringify(name)})`);
  if (name === INSTALLED) return { name, binDirs: [], dockerd: 'dockerd', package: 'docker.io (installed)' };
  const dir = path.join(cacheDir, name);
  const dockerd = path.join(dir, 'root', 'usr', 'sbin', 'dockerd');
  if (!fs.existsSync(dockerd) || !fs.existsSync(path.join(dir, 'engine.json'))) fetchEngine(name, dir, log);
  const { package: pkg } = JSON.parse(fs.readFileSync(path.join(dir, 'engine.json'), 'utf8'));
  return { name, binDirs: [path.join(dir, 'root', 'usr', 'sbin'), path.join(dir, 'root', 'usr', 'bin')], dockerd, package: pkg };
}

/** "Docker engine sid: Docker version 28.5.2+dfsg4, build 3ef3c07 (docker.io_28.5.2+dfsg4-5_amd64)" */
function announcement(engine) {
  const version = execFileSync(engine.dockerd, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: [...engine.binDirs, process.env.PATH].join(':') } });
  return `Docker engine ${engine.name}: ${version.trim()} (${engine.package})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const announce = process.argv[2] === '--announce';
  const name = process.argv[announce ? 3 : 2] || process.env.DOCKER_ENGINE || DEFAULT_ENGINE;
  try {
    const engine = ensureEngine(name);
    process.stdout.write(`${announce ? announcement(engine) : JSON.stringify(engine)}\n`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
