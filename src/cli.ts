#!/usr/bin/env node
/**
 * berth's command line: `serve` runs the plugin daemon, `local-ec2` the local EC2 and metadata endpoint, and the admin
 * commands (volume, snapshot, doctor) talk to a running daemon's admin socket (src/client/).
 */
import { ConfigError, loadConfig, settingsHelp, type Config } from './config';
import type { Logger } from './log';
import { unsupportedNode, versionLine } from './version';

const USAGE = `usage: berth <command> [options]

commands:
  serve       run the Docker volume plugin daemon (berth serve --help lists every setting)
  csi         run the Swarm cluster volume plugin (CSI) on CSI_ENDPOINT
  local-ec2   run the local EC2 and instance-metadata endpoint (berth local-ec2 --help)
  version     print berth's version and the Node.js it runs on

admin commands (a running daemon's admin socket, root only; each takes --json, --socket PATH and --help):
  volume ls                                  list berth's volumes
  volume inspect NAME                        one volume as EC2 has it now, with its latest modification
  volume resize NAME SIZE                    grow a volume and its filesystem to SIZE GiB (20, 20G, 20GiB)
  volume modify NAME [--size N] [--type T] [--iops N] [--throughput N]
  volume release NAME [--force]              detach a volume from the instance that holds it
  snapshot create NAME [--tag KEY=VALUE]...  snapshot a volume, waiting until it is completed
  snapshot ls [NAME]                         list the snapshots berth made
  snapshot rm SNAPSHOT                       delete a snapshot berth made
  doctor                                     check what berth needs, with a fix for each problem

`;

async function serve(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(settingsHelp());
    // The plugin's build runs `serve --help` to fill Node's compile cache for the plugin's first start: with a
    // cache in use, load (start nothing) what serve loads, also what it loads only after listening.
    if (process.env.NODE_COMPILE_CACHE) await Promise.all([import('./log'), import('./daemon').then(({ loadEverything }) => loadEverything())]);
    return;
  }
  const config = daemonConfigOrExit(args);
  // Docker dials a managed plugin 0.5 s after starting it: listen first, then load the logger, express and the rest.
  const { bindSocket } = await import('./api/server');
  const socket = await bindSocket(config.socket);
  const { createLogger } = await import('./log');
  const logger = createLogger({ level: config.logLevel, secrets: [config.accessKey, config.secretKey] });
  const { startDaemon } = await import('./daemon');
  const daemon = await startDaemon(config, logger, socket);
  stopOnSignals(logger, () => daemon.stop());
}

/** The settings of a daemon, or exit 2 saying which is invalid (or that this Node.js is too old). */
function daemonConfigOrExit(args: string[]): Config {
  const nodeProblem = unsupportedNode();
  if (nodeProblem) {
    process.stderr.write(`berth: ${nodeProblem}\n`);
    process.exit(2);
  }
  try {
    return loadConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth: invalid setting: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** `berth csi`: the Swarm cluster volume plugin, on CSI_ENDPOINT (berth serve's settings apply). */
async function csi(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`berth csi: serves Swarm cluster volumes (CSI) on CSI_ENDPOINT (default unix:///run/docker/plugins/csi.sock)\n\n${settingsHelp()}`);
    if (process.env.NODE_COMPILE_CACHE) await Promise.all([import('./log'), import('./csi-daemon'), import('./daemon').then(({ loadEverything }) => loadEverything())]);
    return;
  }
  const config = daemonConfigOrExit(args);
  const { createLogger } = await import('./log');
  const logger = createLogger({ level: config.logLevel, secrets: [config.accessKey, config.secretKey] });
  const { startCsiDaemon, DEFAULT_CSI_ENDPOINT } = await import('./csi-daemon');
  const daemon = await startCsiDaemon(config, process.env.CSI_ENDPOINT || DEFAULT_CSI_ENDPOINT, logger);
  stopOnSignals(logger, () => daemon.stop());
}

function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error('stop failed', { error: (err as Error).message });
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve':
      return serve(args);
    case 'csi':
      return csi(args);
    case 'local-ec2': {
      const { localEc2Main } = await import('./localec2/main');
      return localEc2Main(args);
    }
    case 'volume':
    case 'snapshot':
    case 'doctor': {
      const { clientMain } = await import('./client/main');
      process.exitCode = await clientMain(argv, { env: process.env, stdout: process.stdout, stderr: process.stderr });
      return;
    }
    case 'version':
    case '--version':
      process.stdout.write(`${versionLine()}\n`);
      return;
    default: {
      // The admin commands' exit codes, from the one table the CLI keeps (loaded only for this help).
      const { EXIT_CODES_HELP } = await import('./client/failures');
      process.stderr.write(`${USAGE}${EXIT_CODES_HELP.replace(/^exit codes:/, 'exit codes of the admin commands:')}`);
      process.exit(command === undefined || command === '--help' || command === '-h' ? 0 : 2);
    }
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`berth: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
