#!/usr/bin/env node
/** berth's command line: `serve` runs the plugin daemon, `local-ec2` the local EC2 and metadata endpoint. */
import { ConfigError, loadConfig, settingsHelp } from './config';
import type { Logger } from './log';
import { unsupportedNode, versionLine } from './version';

const USAGE = `usage: berth <command> [options]

commands:
  serve       run the Docker volume plugin daemon (berth serve --help lists every setting)
  local-ec2   run the local EC2 and instance-metadata endpoint (berth local-ec2 --help)
  version     print berth's version and the Node.js it runs on
`;

async function serve(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(settingsHelp());
    // The plugin's build runs `serve --help` to fill Node's compile cache for the plugin's first start: with a
    // cache in use, load (start nothing) what serve loads, also what it loads only after listening.
    if (process.env.NODE_COMPILE_CACHE) await Promise.all([import('./log'), import('./daemon').then(({ loadEverything }) => loadEverything())]);
    return;
  }
  const nodeProblem = unsupportedNode();
  if (nodeProblem) {
    process.stderr.write(`berth: ${nodeProblem}\n`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth: invalid setting: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Docker dials a managed plugin 0.5 s after starting it: listen first, then load the logger, express and the rest.
  const { bindSocket } = await import('./api/server');
  const socket = await bindSocket(config.socket);
  const { createLogger } = await import('./log');
  const logger = createLogger({ level: config.logLevel, secrets: [config.accessKey, config.secretKey] });
  const { startDaemon } = await import('./daemon');
  const daemon = await startDaemon(config, logger, socket);
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
    case 'local-ec2': {
      const { localEc2Main } = await import('./localec2/main');
      return localEc2Main(args);
    }
    case 'version':
    case '--version':
      process.stdout.write(`${versionLine()}\n`);
      return;
    default:
      process.stderr.write(USAGE);
      process.exit(command === undefined || command === '--help' || command === '-h' ? 0 : 2);
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`berth: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
