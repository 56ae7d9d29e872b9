/**
 * The managed plugin manifest (config.json) against the daemon's settings (src/config.ts): what a user can
 * `docker plugin set`, and what the daemon sees when they set nothing. Needs no Docker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, SCHEMA } from '../../src/config';
import { validateVolumeName } from '../../src/volumes/names';

interface EnvEntry {
  name: string;
  description: string;
  value?: string;
  settable?: string[];
}

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../config.json'), 'utf8')) as {
  entrypoint: string[];
  interface: { types: string[]; socket: string };
  network: { type: string };
  propagatedMount: string;
  mounts: { source: string; destination: string; type: string; options: string[] }[];
  linux: { capabilities: string[]; allowAllDevices: boolean };
  env: EnvEntry[];
};
const declared = new Map(manifest.env.map((entry) => [entry.name, entry]));

/** What Docker exports to the plugin when nothing was set: declared values only (checked on Docker 20.10). */
function exportedEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of manifest.env) if (entry.value !== undefined) env[entry.name] = entry.value;
  return { ...env, ...overrides };
}

/** Fixed by the manifest itself: changing them would break the plugin. */
const FIXED: Record<string, string> = {
  EBS_SOCKET: `/run/docker/plugins/${manifest.interface.socket}`,
  EBS_MOUNTROOT: manifest.propagatedMount,
  NODE_COMPILE_CACHE: '/var/cache/node',
  NODE_OPTIONS: '--max-semi-space-size=1',
};

/**
 * Settable, with a value: the state dir a plugin was installed with is kept by Docker across upgrades, as it should
 * be. A folder of the propagated mount (which upgrades, disable/enable and dockerd restarts keep, unlike the rootfs)
 * that no volume can be mounted on: volume names never start with ".".
 */
const STATE_DIR = `${manifest.propagatedMount}/.berth`;

/** rexray/ebs's settable names: `docker plugin install berth ... KEY=VALUE` must accept every one of them. */
const REXRAY_SETTABLE = [
  'REXRAY_FSTYPE', 'REXRAY_LOGLEVEL', 'REXRAY_PREEMPT', 'HTTP_PROXY', 'LINUX_VOLUME_ROOTPATH', 'LINUX_VOLUME_FILEMODE',
  'EBS_ACCESSKEY', 'EBS_SECRETKEY', 'EBS_REGION', 'EBS_ENDPOINT', 'EBS_KMSKEYID', 'EBS_MAXRETRIES',
  'EBS_STATUSINITIALDELAY', 'EBS_STATUSMAXATTEMPTS', 'EBS_STATUSTIMEOUT', 'EBS_USELARGEDEVICERANGE',
];

describe('plugin manifest (config.json)', () => {
  it('is a volume driver on a socket the daemon listens on, with host networking, devices and mount propagation', () => {
    expect(manifest.interface.types).toEqual(['docker.volumedriver/1.0']);
    expect(manifest.network.type).toBe('host');
    expect(manifest.linux.capabilities).toContain('CAP_SYS_ADMIN');
    // Not CAP_SYS_RESOURCE: hosts may not be able to grant it (enable then fails); ext4 is grown offline instead.
    expect(manifest.linux.capabilities).not.toContain('CAP_SYS_RESOURCE');
    expect(manifest.linux.allowAllDevices).toBe(true);
    expect(manifest.mounts).toContainEqual(expect.objectContaining({ source: '/dev', destination: '/dev', type: 'bind' }));
    const config = loadConfig([], exportedEnv());
    expect(config.socket).toBe(`/run/docker/plugins/${manifest.interface.socket}`);
    expect(config.mountRoot).toBe(manifest.propagatedMount);
    expect(manifest.entrypoint).toEqual(['/usr/local/bin/node', '/berth/cli.js', 'serve']);
  });

  it('declares every daemon setting as an environment variable (a config file cannot reach the plugin)', () => {
    const expected = Object.values(SCHEMA).map((setting) => setting.env).filter((name) => name !== 'EBS_CONFIG');
    expect(expected.filter((name) => !declared.has(name))).toEqual([]);
  });

  it('lets users set everything except the paths the manifest fixes', () => {
    for (const entry of manifest.env) {
      if (entry.name in FIXED) {
        expect({ name: entry.name, value: entry.value, settable: entry.settable }).toEqual({ name: entry.name, value: FIXED[entry.name], settable: undefined });
      } else {
        expect({ name: entry.name, settable: entry.settable }).toEqual({ name: entry.name, settable: ['value'] });
      }
      expect(entry.description.length).toBeGreaterThan(10);
    }
  });

  it('accepts every setting rexray/ebs users pass today', () => {
    expect(REXRAY_SETTABLE.filter((name) => declared.get(name)?.settable?.[0] !== 'value')).toEqual([]);
  });

  it('declares only defaults the daemon has anyway, so an untouched plugin behaves like `berth serve`, but for the state dir', () => {
    expect(loadConfig([], exportedEnv())).toEqual({ ...loadConfig([], {}), stateDir: STATE_DIR });
  });

  it('keeps the state in the propagated mount, where no volume can be mounted', () => {
    expect(declared.get('EBS_STATEDIR')).toMatchObject({ value: STATE_DIR, settable: ['value'] });
    expect(() => validateVolumeName('.berth', '')).toThrow();
  });

  it("lets REX-Ray's variable names take effect (berth's own names are declared without a value)", () => {
    expect(loadConfig([], exportedEnv({ REXRAY_FSTYPE: 'xfs' })).fsType).toBe('xfs');
    expect(loadConfig([], exportedEnv({ REXRAY_PREEMPT: 'true' })).preempt).toBe(true);
    expect(loadConfig([], exportedEnv({ REXRAY_LOGLEVEL: 'debug' })).logLevel).toBe('debug');
    expect(loadConfig([], exportedEnv({ HTTP_PROXY: 'http://127.0.0.1:3128' })).httpProxy).toBe('http://127.0.0.1:3128');
  });

  it('declares no value for what users can set but the state dir: the daemon applies its defaults, and they follow upgrades', () => {
    // docker plugin upgrade keeps the Settings.Env made at install (seen on Docker 20.10): a value declared here
    // would freeze that version's default on every host that upgrades.
    expect(manifest.env.filter((entry) => entry.settable && entry.value !== undefined).map((entry) => entry.name)).toEqual(['EBS_STATEDIR']);
  });
});
