/**
 * Which admin socket a command talks to: the first found of
 * 1. --socket PATH;
 * 2. legacy mode: beside a plugin socket that berth serve's settings set on purpose (EBS_SOCKET, the config file);
 * 3. the managed plugin Docker runs (the enabled one whose entrypoint is berth's, or --plugin NAME): its sockets are
 *    in <exec root>/plugins/<plugin id>/;
 * 4. legacy mode with the default settings, when that admin socket exists.
 * --plugin skips 2 and 4: it asks for a managed plugin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { adminSocketBeside } from '../admin/protocol';
import { ConfigError, loadConfig, SCHEMA, settingSource, type SettingSource } from '../config';
import type { AdminSocket } from './admin-call';
import { dockerPlugins, DockerUnavailable, runsBerth, BERTH_ENTRYPOINT, type DockerPlugin } from './docker-plugins';
import { CommandFailure, EXIT, usageError } from './failures';

export interface DiscoveryOptions {
  socket?: string;
  /** berth serve's config file (--config), read for the plugin socket. */
  config?: string;
  plugin?: string;
  dockerExecRoot?: string;
}

export const DEFAULT_DOCKER_EXEC_ROOT = '/run/docker';

/** The plugin socket's name inside a managed plugin's folder (config.json's interface.socket). */
const MANAGED_PLUGIN_SOCKET = 'berth.sock';

const SOURCE_NAMES: Record<Exclude<SettingSource, 'default'>, string> = {
  environment: 'EBS_SOCKET',
  file: 'the config file',
  flag: 'a flag',
};

const HOW_TO_POINT =
  'Point berth at it with --socket PATH (the admin socket: <name>-admin.sock beside the plugin socket <name>.sock); ' +
  'for a legacy install, EBS_SOCKET or --config FILE as berth serve has them; ' +
  'for a managed plugin, --plugin NAME, and --docker-exec-root DIR when its engine runs with another exec root.';

/** `exists` is asked only of the default legacy socket. */
export async function findAdminSocket(options: DiscoveryOptions, env: NodeJS.ProcessEnv, exists: (file: string) => boolean = fs.existsSync): Promise<AdminSocket> {
  if (options.socket !== undefined) return { path: options.socket, foundBy: 'given by --socket' };
  const tried = ['--socket: not given'];
  if (options.plugin === undefined) {
    const legacy = legacyAdminSocket(options.config, env);
    if (legacy) return legacy;
    tried.push('legacy mode: neither EBS_SOCKET nor a config file (EBS_CONFIG, --config) sets the plugin socket');
  }
  const managed = await managedPluginSocket(options, env, tried);
  if (managed) return managed;
  if (options.plugin === undefined) {
    const defaultSocket = adminSocketBeside(String(SCHEMA.socket.default));
    if (exists(defaultSocket)) return { path: defaultSocket, foundBy: 'of a legacy install with the default settings' };
    tried.push(`legacy mode with the default settings: no ${defaultSocket}`);
  }
  throw new CommandFailure(EXIT.unreachable, ['found no berth admin socket. Tried:', ...tried.map((step) => `  - ${step}`), HOW_TO_POINT].join('\n'));
}

function legacyAdminSocket(configFile: string | undefined, env: NodeJS.ProcessEnv): AdminSocket | undefined {
  const args = configFile === undefined ? [] : ['--config', configFile];
  try {
    const source = settingSource('socket', args, env);
    if (source === 'default') return undefined;
    const { socket } = loadConfig(args, env);
    return { path: adminSocketBeside(socket), foundBy: `beside the plugin socket ${socket} that ${SOURCE_NAMES[source]} sets, legacy mode` };
  } catch (err) {
    if (err instanceof ConfigError) throw usageError(`invalid setting: ${err.message}`);
    throw err;
  }
}

async function managedPluginSocket(options: DiscoveryOptions, env: NodeJS.ProcessEnv, tried: string[]): Promise<AdminSocket | undefined> {
  let plugins: DockerPlugin[];
  try {
    plugins = await dockerPlugins(env, options.plugin);
  } catch (err) {
    if (!(err instanceof DockerUnavailable)) throw err;
    tried.push(`asking Docker: ${err.message}`);
    return undefined;
  }
  const berthPlugins = plugins.filter(runsBerth);
  if (options.plugin !== undefined && berthPlugins.length === 0) {
    throw usageError(`the Docker plugin ${options.plugin} does not run berth (its entrypoint is ${JSON.stringify(plugins[0]?.entrypoint ?? [])}, not one with ${BERTH_ENTRYPOINT})`);
  }
  const enabled = berthPlugins.filter((plugin) => plugin.enabled);
  if (enabled.length > 1) {
    throw usageError(`Docker runs ${enabled.length} berth plugins (${enabled.map((plugin) => plugin.name).join(', ')}): choose one with --plugin NAME`);
  }
  if (enabled.length === 0) {
    const disabled = berthPlugins.map((plugin) => plugin.name).join(', ');
    tried.push(disabled ? `asking Docker: the berth plugin ${disabled} is disabled (docker plugin enable NAME)` : `asking Docker (docker plugin ls): no plugin runs ${BERTH_ENTRYPOINT}`);
    return undefined;
  }
  const [plugin] = enabled;
  const execRoot = options.dockerExecRoot ?? DEFAULT_DOCKER_EXEC_ROOT;
  const pluginSocket = path.posix.join(execRoot, 'plugins', plugin.id, MANAGED_PLUGIN_SOCKET);
  return {
    path: adminSocketBeside(pluginSocket),
    foundBy: `of the Docker plugin ${plugin.name} (id ${plugin.id.slice(0, 12)}) under the exec root ${execRoot}; --docker-exec-root DIR names another`,
  };
}
