/**
 * apt-get with a state of its own (sources list, package lists, cache and, for another architecture, an empty
 * dpkg status), so that packages of another Debian suite or architecture can be downloaded without any change to
 * the machine's apt or dpkg configuration. Used for the arm64 sysroot and for the Docker engines the tests fetch.
 */
import fs from 'node:fs';
import path from 'node:path';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const FALLBACK_ARCHIVE = 'http://deb.debian.org/debian';

/** The Debian archive this machine's apt uses for its main packages (so a mirror set up for it is used too), and its suite. */
export function debianArchive() {
  const suite = /^VERSION_CODENAME=(\S+)$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  const sources = '/etc/apt/sources.list.d';
  for (const file of fs.existsSync(sources) ? fs.readdirSync(sources).filter((name) => name.endsWith('.sources')) : []) {
    for (const stanza of fs.readFileSync(path.join(sources, file), 'utf8').split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(suite) && !uri.includes('security')) return { archive: uri.replace(/\/$/, ''), suite };
    }
  }
  if (fs.existsSync('/etc/apt/sources.list')) {
    for (const line of fs.readFileSync('/etc/apt/sources.list', 'utf8').split('\n')) {
      const match = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${suite}\\s`).exec(line.trim());
      if (match && !match[1].includes('security')) return { archive: match[1].replace(/\/$/, ''), suite };
    }
  }
  return { archive: FALLBACK_ARCHIVE, suite };
}

/**
 * Makes the state folder (one sources line for `suite`, optionally for `arch` only) and returns apt-get's options
 * for it. With `arch`, apt resolves that architecture's packages from an empty dpkg status.
 */
export function privateApt(state, { archive, suite, arch }) {
  for (const sub of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(state, sub), { recursive: true });
  fs.writeFileSync(path.join(state, 'sources.list'), `deb [${arch ? `arch=${arch} ` : ''}signed-by=${DEBIAN_KEYRING}] ${archive} ${suite} main\n`);
  const options = [
    '-o', `Dir::Etc::SourceList=${path.join(state, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${path.join(state, 'lists')}`,
    '-o', `Dir::Cache=${path.join(state, 'cache')}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
  ];
  if (!arch) return options;
  fs.writeFileSync(path.join(state, 'status'), '');
  return [
    ...options,
    '-o', 'Dir::Etc::Preferences=/dev/null',
    '-o', 'Dir::Etc::PreferencesParts=/dev/null',
    '-o', `Dir::State::status=${path.join(state, 'status')}`,
    '-o', `APT::Architecture=${arch}`,
    '-o', `APT::Architectures::=${arch}`,
  ];
}
