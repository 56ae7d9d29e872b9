/**
 * berth's settings: each one a flag, an environment variable and a config-file key.
 * Precedence: defaults < config file < environment < flags. An environment variable set to "" counts as unset.
 * REX-Ray's variable names work unchanged; where berth has its own name, berth's wins.
 */
import convict from 'convict';
import fs from 'node:fs';
import { FS_TYPES, type FsType } from './common/filesystems';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type RemovePolicy = '' | 'delete' | 'retain' | 'snapshot';

export interface Config {
  configFile: string;
  socket: string;
  mountRoot: string;
  stateDir: string;
  deviceDir: string;
  region: string;
  accessKey: string;
  secretKey: string;
  endpoint: string;
  metadataEndpoint: string;
  kmsKeyId: string;
  maxRetries: number;
  statusInitialDelayMs: number;
  statusMaxAttempts: number;
  statusTimeoutMs: number;
  callTimeoutMs: number;
  useLargeDeviceRange: boolean;
  tag: string;
  fsType: FsType;
  preempt: boolean;
  logLevel: LogLevel;
  volumeRootPath: string;
  volumeFileMode: number;
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
  adoptRexray: boolean;
  removePolicy: RemovePolicy;
  mountTimeoutMs: number;
  listCacheMs: number;
  releaseDelayMs: number;
  releaseWaitMs: number;
  /** host:port of the Prometheus metrics endpoint; empty: none. */
  metricsAddr: string;
}

/** REX-Ray's names, read only when berth's own name is unset. */
const ENV_ALIASES: Record<string, string[]> = {
  EBS_FSTYPE: ['REXRAY_FSTYPE'],
  EBS_PREEMPT: ['REXRAY_PREEMPT'],
  EBS_LOGLEVEL: ['REXRAY_LOGLEVEL'],
  HTTP_PROXY: ['http_proxy'],
  HTTPS_PROXY: ['https_proxy'],
  NO_PROXY: ['no_proxy'],
};

/** Settings whose values never appear in logs, errors or state files. */
export const SECRET_KEYS: ReadonlyArray<keyof Config> = ['accessKey', 'secretKey'];

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "100ms", "2s", "2m", "1h" or a bare number of milliseconds (REX-Ray's duration syntax). */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(String(value));
  if (!match) throw new Error(`must be a duration such as 250ms, 5s or 2m, not ${JSON.stringify(value)}`);
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']);
}

function parseBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new Error(`must be true or false, not ${JSON.stringify(value)}`);
}

function parseFileMode(value: unknown): number {
  if (typeof value === 'number') return value;
  const text = String(value).trim();
  if (!/^0?[0-7]{3,4}$/.test(text)) throw new Error(`must be an octal file mode such as 0755, not ${JSON.stringify(value)}`);
  const mode = parseInt(text, 8);
  if (mode > 0o7777) throw new Error(`must be an octal file mode such as 0755, not ${JSON.stringify(value)}`);
  return mode;
}

function validated<T>(parse: (value: unknown) => T) {
  return {
    validate(value: unknown) {
      parse(value);
    },
    coerce: (value: unknown) => {
      try {
        return parse(value);
      } catch {
        return value;
      }
    },
  };
}

convict.addFormat({ name: 'duration-ms', ...validated(parseDuration) });
convict.addFormat({ name: 'strict-boolean', ...validated(parseBoolean) });
convict.addFormat({ name: 'file-mode', ...validated(parseFileMode) });
convict.addFormat({
  name: 'count',
  ...validated((value) => {
    const n = typeof value === 'number' ? value : Number(String(value).trim());
    if (!Number.isInteger(n) || n < 0 || String(value).trim() === '') {
      throw new Error(`must be a whole number, not ${JSON.stringify(value)}`);
    }
    return n;
  }),
});
convict.addFormat({
  name: 'absolute-path',
  validate(value: unknown) {
    if (typeof value !== 'string' || !value.startsWith('/')) {
      throw new Error(`must be an absolute path, not ${JSON.stringify(value)}`);
    }
  },
});
convict.addFormat({
  name: 'endpoint-url',
  validate(value: unknown) {
    if (value === '') return;
    try {
      new URL(withScheme(String(value)));
    } catch {
      throw new Error(`must be a URL such as https://ec2.us-east-1.amazonaws.com, not ${JSON.stringify(value)}`);
    }
  },
});

/** "127.0.0.1:9573", "[::1]:9573" or "0.0.0.0:9573" into host and port; throws naming what is allowed. */
export function parseListenAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`must be host:port such as 127.0.0.1:9573 (port 0 to 65535), not ${JSON.stringify(value)}`);
  return { host: match[1] ?? match[2], port };
}

convict.addFormat({
  name: 'listen-address',
  validate(value: unknown) {
    if (value !== '') parseListenAddress(String(value));
  },
});

/** REX-Ray accepted an endpoint without a scheme and meant https. */
export function withScheme(endpoint: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
}

function logLevel(value: unknown): LogLevel {
  const text = String(value).trim().toLowerCase();
  if (text === 'panic' || text === 'fatal') return 'error';
  if (text === 'warning') return 'warn';
  if (['error', 'warn', 'info', 'debug'].includes(text)) return text as LogLevel;
  throw new Error(`must be one of error, warn, info, debug, not ${JSON.stringify(value)}`);
}
convict.addFormat({ name: 'log-level', ...validated(logLevel) });

interface Setting {
  doc: string;
  format: unknown;
  default: unknown;
  env: string;
  arg: string;
  sensitive?: boolean;
}

const setting = (
  env: string,
  arg: string,
  format: unknown,
  defaultValue: unknown,
  doc: string,
  sensitive = false,
): Setting => ({ doc, format, default: defaultValue, env, arg, ...(sensitive ? { sensitive } : {}) });

/** The schema; also the source of `serve --help`. */
export const SCHEMA: Record<keyof Config, Setting> = {
  configFile: setting('EBS_CONFIG', 'config', String, '', 'JSON config file whose keys are the names in this table'),
  socket: setting('EBS_SOCKET', 'socket', 'absolute-path', '/run/docker/plugins/berth.sock', 'Unix socket Docker calls'),
  mountRoot: setting('EBS_MOUNTROOT', 'mount-root', 'absolute-path', '/var/lib/libstorage/volumes', 'Where volumes are mounted'),
  stateDir: setting('EBS_STATEDIR', 'state-dir', 'absolute-path', '/var/lib/berth', 'Persisted refcounts and volume cache'),
  deviceDir: setting('EBS_DEVICEDIR', 'device-dir', 'absolute-path', '/dev', 'Where device nodes and disk/by-id links are looked up'),
  region: setting('EBS_REGION', 'region', String, '', "AWS region (default: this instance's, from metadata)"),
  accessKey: setting('EBS_ACCESSKEY', 'access-key', String, '', 'Access key id (default: the SDK credential chain)', true),
  secretKey: setting('EBS_SECRETKEY', 'secret-key', String, '', 'Secret access key', true),
  endpoint: setting('EBS_ENDPOINT', 'endpoint', 'endpoint-url', '', 'EC2 endpoint URL (no scheme means https)'),
  metadataEndpoint: setting(
    'AWS_EC2_METADATA_SERVICE_ENDPOINT',
    'metadata-endpoint',
    'endpoint-url',
    'http://169.254.169.254',
    'Instance metadata service URL',
  ),
  kmsKeyId: setting('EBS_KMSKEYID', 'kms-key-id', String, '', 'KMS key that encrypts every volume unless -o kmsKeyId names another; -o encrypted=false is then refused (unset: encrypted only when asked)'),
  maxRetries: setting('EBS_MAXRETRIES', 'max-retries', 'count', 10, 'Attempts per EC2 call (adaptive retry mode)'),
  statusInitialDelayMs: setting('EBS_STATUSINITIALDELAY', 'status-initial-delay', 'duration-ms', '25ms', 'First status poll delay'),
  statusMaxAttempts: setting('EBS_STATUSMAXATTEMPTS', 'status-max-attempts', 'count', 150, 'Status polls per wait'),
  statusTimeoutMs: setting('EBS_STATUSTIMEOUT', 'status-timeout', 'duration-ms', '2m', 'Longest wait for a volume state'),
  callTimeoutMs: setting('EBS_CALLTIMEOUT', 'call-timeout', 'duration-ms', '15s', 'Time bound of one EC2 or metadata request'),
  useLargeDeviceRange: setting(
    'EBS_USELARGEDEVICERANGE',
    'use-large-device-range',
    'strict-boolean',
    false,
    'Use /dev/xvd[b-c][a-z] device names as well',
  ),
  tag: setting('EBS_TAG', 'tag', String, '', 'Namespace: Name tags become <tag>/<name>'),
  fsType: setting('EBS_FSTYPE', 'fs-type', [...FS_TYPES], 'ext4', 'Default filesystem (REXRAY_FSTYPE)'),
  preempt: setting('EBS_PREEMPT', 'preempt', 'strict-boolean', false, 'Force-detach a volume held by another instance (REXRAY_PREEMPT)'),
  logLevel: setting('EBS_LOGLEVEL', 'log-level', 'log-level', 'info', 'error, warn, info or debug (REXRAY_LOGLEVEL)'),
  volumeRootPath: setting('LINUX_VOLUME_ROOTPATH', 'volume-root-path', String, '/data', 'Directory inside the filesystem given to containers'),
  volumeFileMode: setting('LINUX_VOLUME_FILEMODE', 'volume-file-mode', 'file-mode', '0755', 'Default mode of that directory'),
  httpProxy: setting('HTTP_PROXY', 'http-proxy', String, '', 'Proxy for http endpoints', true),
  httpsProxy: setting('HTTPS_PROXY', 'https-proxy', String, '', 'Proxy for https endpoints', true),
  noProxy: setting('NO_PROXY', 'no-proxy', String, '', 'Hosts reached without the proxy'),
  adoptRexray: setting('EBS_ADOPTREXRAY', 'adopt-rexray', 'strict-boolean', false, 'Serve volumes that carry only REX-Ray\'s Name tag'),
  removePolicy: setting(
    'EBS_REMOVE',
    'remove',
    ['', 'delete', 'retain', 'snapshot'],
    '',
    'What volume rm does to the EBS volume: delete, retain or snapshot (then delete); unset: delete berth\'s own, retain adopted REX-Ray ones',
  ),
  mountTimeoutMs: setting('EBS_MOUNTTIMEOUT', 'mount-timeout', 'duration-ms', '25s', 'Deadline of one Mount call'),
  listCacheMs: setting('EBS_LISTCACHE', 'list-cache', 'duration-ms', '5s', 'Longest age of the List cache'),
  releaseDelayMs: setting(
    'EBS_RELEASEDELAY',
    'release-delay',
    'duration-ms',
    '2s',
    'Keep a volume mounted this long after its last Unmount when it was mounted for under a second (Docker mounts and unmounts once while creating a container); 0: release at once',
  ),
  releaseWaitMs: setting(
    'EBS_RELEASEWAIT',
    'release-wait',
    'duration-ms',
    '10s',
    'How long a Mount waits for another instance to release the volume before refusing or, with preemption, force-detaching it; a Remove waits as long before refusing',
  ),
  metricsAddr: setting('EBS_METRICSADDR', 'metrics-addr', 'listen-address', '', 'host:port where Prometheus metrics are served at /metrics (e.g. 127.0.0.1:9573); unset: none'),
};

/** Drops empty values and lets berth's own names win over REX-Ray's. */
export function normaliseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const cleaned: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') cleaned[key] = value;
  for (const [own, aliases] of Object.entries(ENV_ALIASES)) {
    if (cleaned[own] !== undefined) continue;
    const alias = aliases.find((name) => cleaned[name] !== undefined);
    if (alias) cleaned[own] = cleaned[alias];
  }
  return cleaned;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const PARSERS: Partial<Record<keyof Config, (value: unknown) => unknown>> = {
  statusInitialDelayMs: parseDuration,
  statusTimeoutMs: parseDuration,
  callTimeoutMs: parseDuration,
  mountTimeoutMs: parseDuration,
  listCacheMs: parseDuration,
  releaseDelayMs: parseDuration,
  releaseWaitMs: parseDuration,
  volumeFileMode: parseFileMode,
  useLargeDeviceRange: parseBoolean,
  preempt: parseBoolean,
  adoptRexray: parseBoolean,
  logLevel,
  maxRetries: Number,
  statusMaxAttempts: Number,
};

function describeSetting(key: keyof Config): string {
  const { env, arg } = SCHEMA[key];
  return `${key} (${env}, --${arg})`;
}

/** Parses settings once, at start. Throws ConfigError naming the setting on any invalid value. */
export function loadConfig(args: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const settings = convict<Config>(SCHEMA as convict.Schema<Config>, { env: normaliseEnv(env), args });
  const configFile = settings.get('configFile');
  if (configFile) {
    if (!fs.existsSync(configFile)) throw new ConfigError(`configFile (EBS_CONFIG, --config): ${configFile} does not exist`);
    try {
      settings.loadFile(configFile);
      // env and flags still win over the file: convict re-applies them on load.
    } catch (err) {
      throw new ConfigError(`configFile (EBS_CONFIG, --config): ${configFile}: ${(err as Error).message}`);
    }
  }
  try {
    settings.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(explainValidation((err as Error).message));
  }
  const config = settings.getProperties();
  for (const [key, parse] of Object.entries(PARSERS) as [keyof Config, (value: unknown) => unknown][]) {
    (config as unknown as Record<string, unknown>)[key] = parse(config[key]);
  }
  if (config.endpoint) config.endpoint = withScheme(config.endpoint);
  if (!config.volumeRootPath.startsWith('/') || config.volumeRootPath.split('/').includes('..')) {
    throw new ConfigError(`${describeSetting('volumeRootPath')}: must be an absolute path without "..", not ${JSON.stringify(config.volumeRootPath)}`);
  }
  if (Boolean(config.accessKey) !== Boolean(config.secretKey)) {
    throw new ConfigError(`${describeSetting(config.accessKey ? 'secretKey' : 'accessKey')}: must be set together with the other key`);
  }
  return config;
}

export type SettingSource = 'default' | 'file' | 'environment' | 'flag';

/**
 * Where loadConfig(args, env) takes a setting's value from, by the same precedence. The CLI uses it to tell a plugin
 * socket set on purpose (a legacy install) from the default.
 */
export function settingSource(key: keyof Config, args: string[], env: NodeJS.ProcessEnv = process.env): SettingSource {
  const { env: variable, arg } = SCHEMA[key];
  if (args.some((word) => word === `--${arg}` || word.startsWith(`--${arg}=`))) return 'flag';
  if (normaliseEnv(env)[variable] !== undefined) return 'environment';
  const { configFile } = loadConfig(args, env);
  if (configFile && Object.hasOwn(JSON.parse(fs.readFileSync(configFile, 'utf8')) ?? {}, key)) return 'file';
  return 'default';
}

/** convict says "key: message"; add the env var and flag that set it. */
function explainValidation(message: string): string {
  return message
    .split('\n')
    .map((line) => {
      const match = /^([A-Za-z]+): (.*)$/.exec(line.trim());
      if (match && match[1] in SCHEMA) return `${describeSetting(match[1] as keyof Config)}: ${match[2]}`;
      return line.replace(/configuration param '([A-Za-z]+)' not declared in the schema/, 'unknown setting "$1" in the config file');
    })
    .join('\n');
}

/** A copy safe to log: secrets replaced. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (copy[key]) copy[key] = '[redacted]';
  for (const key of ['httpProxy', 'httpsProxy'] as const) if (copy[key]) copy[key] = redactUrlCredentials(String(copy[key]));
  return copy;
}

export function redactUrlCredentials(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//[redacted]@');
}

/** `berth serve --help`: every setting with its flag, environment variable, default and config key. */
export function settingsHelp(): string {
  const rows = Object.entries(SCHEMA).map(([key, setting]) => {
    const fallback = setting.default === '' ? '' : ` (default ${String(setting.default)})`;
    return `  --${setting.arg.padEnd(24)} ${setting.env.padEnd(34)} ${setting.doc}${fallback}  [config key: ${key}]`;
  });
  return [
    'usage: berth serve [--flag value]...',
    '',
    'Every setting is a flag, an environment variable and a key of the JSON config file.',
    'Precedence: defaults < config file < environment < flags; an empty environment variable counts as unset.',
    "REX-Ray's REXRAY_FSTYPE, REXRAY_PREEMPT and REXRAY_LOGLEVEL are read when berth's own name is unset.",
    '',
    ...rows,
    '',
  ].join('\n');
}
