/**
 * The managed plugins the Docker engine knows, asked of the docker CLI: run without a shell, with this process's
 * environment, so DOCKER_HOST and the docker CLI's own settings apply as they do to the user's docker commands.
 */
import { execFile } from 'node:child_process';

/** The daemon's script in berth's plugin image (config.json's entrypoint). */
export const BERTH_ENTRYPOINT = '/berth/cli.js';

export interface DockerPlugin {
  id: string;
  name: string;
  enabled: boolean;
  entrypoint: string[];
}

/** The docker CLI is missing or failed; the message says how. */
export class DockerUnavailable extends Error {
  override name = 'DockerUnavailable';
}

const DOCKER_TIMEOUT_MS = 20_000;

/** Every plugin, or the one named (a name, name:tag or id, as docker plugin inspect takes). */
export async function dockerPlugins(env: NodeJS.ProcessEnv, named?: string): Promise<DockerPlugin[]> {
  const ids = named === undefined ? (await docker(['plugin', 'ls', '--quiet', '--no-trunc'], env)).split(/\s+/).filter(Boolean) : [named];
  if (ids.length === 0) return [];
  const answer = await docker(['plugin', 'inspect', ...ids], env);
  let inspected: unknown;
  try {
    inspected = JSON.parse(answer);
  } catch {
    throw new DockerUnavailable(`docker plugin inspect answered something other than JSON: ${answer.slice(0, 200)}`);
  }
  if (!Array.isArray(inspected)) throw new DockerUnavailable('docker plugin inspect answered something other than a list of plugins');
  return inspected.map((plugin) => ({
    id: String(plugin?.Id ?? ''),
    name: String(plugin?.Name ?? ''),
    enabled: plugin?.Enabled === true,
    entrypoint: Array.isArray(plugin?.Config?.Entrypoint) ? plugin.Config.Entrypoint.map(String) : [],
  }));
}

/** berth/ebs (`berth serve`, which serves the admin socket); berth/ebs-csi (`berth csi`) has none. */
export function runsBerth(plugin: DockerPlugin): boolean {
  const at = plugin.entrypoint.indexOf(BERTH_ENTRYPOINT);
  return at >= 0 && plugin.entrypoint[at + 1] === 'serve';
}

function docker(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const command = `docker ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile('docker', args, { env, timeout: DOCKER_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return reject(new DockerUnavailable('docker: command not found in PATH'));
      const said = String(stderr).trim().split('\n')[0] || err.message;
      reject(new DockerUnavailable(err.killed ? `${command}: no answer within ${DOCKER_TIMEOUT_MS / 1000} s` : `${command} failed: ${said}`));
    });
  });
}
