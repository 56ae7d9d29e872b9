import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, redactedConfig, settingSource } from '../../src/config';

describe('configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (content: object) => {
    const name = path.join(dir, 'berth.json');
    fs.writeFileSync(name, JSON.stringify(content));
    return name;
  };

  it('has the documented defaults', () => {
    const config = loadConfig([], {});
    expect(config).toMatchObject({
      socket: '/run/docker/plugins/berth.sock',
      mountRoot: '/var/lib/libstorage/volumes',
      stateDir: '/var/lib/berth',
      deviceDir: '/dev',
      fsType: 'ext4',
      preempt: false,
      volumeRootPath: '/data',
      volumeFileMode: 0o755,
      mountTimeoutMs: 25_000,
      listCacheMs: 5_000,
      releaseDelayMs: 2_000,
      releaseWaitMs: 10_000,
      region: '',
      metricsAddr: '',
    });
  });

  it('takes a metrics address as host:port, and refuses anything else naming the setting', () => {
    expect(loadConfig([], { EBS_METRICSADDR: '127.0.0.1:9573' }).metricsAddr).toBe('127.0.0.1:9573');
    expect(loadConfig(['--metrics-addr', '[::1]:0'], {}).metricsAddr).toBe('[::1]:0');
    for (const bad of ['9573', 'localhost', '127.0.0.1:70000', 'http://127.0.0.1:9573']) {
      expect(() => loadConfig([], { EBS_METRICSADDR: bad })).toThrow(/metricsAddr.*must be host:port such as 127\.0\.0\.1:9573/s);
    }
  });

  it('applies defaults < config file < environment < flags', () => {
    const configFile = file({ socket: '/file.sock', mountRoot: '/file-root', stateDir: '/file-state', deviceDir: '/file-dev' });
    const config = loadConfig(['--config', configFile, '--socket', '/flag.sock'], {
      EBS_SOCKET: '/env.sock',
      EBS_MOUNTROOT: '/env-root',
    });
    expect(config.socket).toBe('/flag.sock');
    expect(config.mountRoot).toBe('/env-root');
    expect(config.stateDir).toBe('/file-state');
    expect(config.deviceDir).toBe('/file-dev');
  });

  it('reads the config file named by EBS_CONFIG', () => {
    expect(loadConfig([], { EBS_CONFIG: file({ tag: 'prod' }) }).tag).toBe('prod');
  });

  it('treats an empty environment variable as unset', () => {
    const config = loadConfig([], { EBS_REGION: '', EBS_SOCKET: '', EBS_FSTYPE: '' });
    expect(config.region).toBe('');
    expect(config.socket).toBe('/run/docker/plugins/berth.sock');
    expect(config.fsType).toBe('ext4');
  });

  it("reads REX-Ray's names, and berth's own names win over them", () => {
    expect(loadConfig([], { REXRAY_FSTYPE: 'xfs', REXRAY_PREEMPT: 'true', REXRAY_LOGLEVEL: 'debug' })).toMatchObject({
      fsType: 'xfs',
      preempt: true,
      logLevel: 'debug',
    });
    expect(loadConfig([], { REXRAY_FSTYPE: 'xfs', EBS_FSTYPE: 'ext4', REXRAY_PREEMPT: 'true', EBS_PREEMPT: 'false' })).toMatchObject({
      fsType: 'ext4',
      preempt: false,
    });
  });

  it("parses REX-Ray's durations, file modes and an endpoint without a scheme", () => {
    const config = loadConfig([], {
      EBS_STATUSINITIALDELAY: '100ms',
      EBS_STATUSTIMEOUT: '2m',
      LINUX_VOLUME_FILEMODE: '0700',
      EBS_ENDPOINT: 'ec2.eu-west-1.amazonaws.com',
      EBS_MAXRETRIES: '7',
    });
    expect(config).toMatchObject({
      statusInitialDelayMs: 100,
      statusTimeoutMs: 120_000,
      volumeFileMode: 0o700,
      endpoint: 'https://ec2.eu-west-1.amazonaws.com',
      maxRetries: 7,
    });
  });

  it.each([
    [{ EBS_PREEMPT: 'maybe' }, /preempt \(EBS_PREEMPT, --preempt\): must be true or false/],
    [{ EBS_FSTYPE: 'btrfs' }, /fsType \(EBS_FSTYPE, --fs-type\)/],
    [{ EBS_MAXRETRIES: 'ten' }, /maxRetries \(EBS_MAXRETRIES, --max-retries\): must be a whole number/],
    [{ EBS_STATUSTIMEOUT: 'soon' }, /statusTimeoutMs \(EBS_STATUSTIMEOUT, --status-timeout\): must be a duration/],
    [{ LINUX_VOLUME_FILEMODE: '999' }, /volumeFileMode \(LINUX_VOLUME_FILEMODE/],
    [{ EBS_MOUNTROOT: 'relative' }, /mountRoot \(EBS_MOUNTROOT, --mount-root\): must be an absolute path/],
    [{ EBS_REMOVE: 'shred' }, /removePolicy \(EBS_REMOVE, --remove\)/],
    [{ EBS_ACCESSKEY: 'AKIAEXAMPLE' }, /secretKey \(EBS_SECRETKEY, --secret-key\): must be set together/],
    [{ LINUX_VOLUME_ROOTPATH: '/../etc' }, /volumeRootPath \(LINUX_VOLUME_ROOTPATH/],
  ])('refuses %j with a message naming the setting', (env, message) => {
    expect(() => loadConfig([], env)).toThrow(ConfigError);
    expect(() => loadConfig([], env)).toThrow(message);
  });

  it('refuses unknown keys in the config file and a missing file', () => {
    expect(() => loadConfig(['--config', file({ sockit: '/x' })], {})).toThrow(/sockit/);
    expect(() => loadConfig(['--config', path.join(dir, 'missing.json')], {})).toThrow(/does not exist/);
  });

  it('tells where a setting came from: a flag, the environment, the config file or the default', () => {
    expect(settingSource('socket', [], {})).toBe('default');
    expect(settingSource('socket', [], { EBS_SOCKET: '' })).toBe('default');
    expect(settingSource('socket', [], { EBS_SOCKET: '/env.sock' })).toBe('environment');
    expect(settingSource('socket', ['--config', file({ socket: '/file.sock' })], {})).toBe('file');
    expect(settingSource('socket', [], { EBS_CONFIG: file({ socket: '/file.sock' }) })).toBe('file');
    expect(settingSource('socket', ['--config', file({ tag: 'prod' })], {})).toBe('default');
    expect(settingSource('socket', ['--socket=/flag.sock'], { EBS_SOCKET: '/env.sock' })).toBe('flag');
    expect(settingSource('socket', ['--socket', '/flag.sock', '--config', file({ socket: '/file.sock' })], {})).toBe('flag');
    expect(settingSource('fsType', [], { REXRAY_FSTYPE: 'xfs' })).toBe('environment');
  });

  it('redacts secrets for logging', () => {
    const config = loadConfig([], { EBS_ACCESSKEY: 'AKIAEXAMPLEKEY', EBS_SECRETKEY: 'very-secret-value', HTTPS_PROXY: 'http://user:pw@proxy:3128' });
    const shown = JSON.stringify(redactedConfig(config));
    expect(shown).not.toContain('AKIAEXAMPLEKEY');
    expect(shown).not.toContain('very-secret-value');
    expect(shown).not.toContain('user:pw');
  });
});

describe('serve --help', () => {
  it('documents every setting with its flag, environment variable and config key', () => {
    const { settingsHelp, SCHEMA } = require('../../src/config');
    const help: string = settingsHelp();
    for (const [key, setting] of Object.entries(SCHEMA) as [string, { env: string; arg: string }][]) {
      expect(help).toContain(`--${setting.arg}`);
      expect(help).toContain(setting.env);
      expect(help).toContain(`config key: ${key}`);
    }
  });
});
