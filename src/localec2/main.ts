/**
 * `berth local-ec2 ...`: runs the local EC2 and instance-metadata endpoint until SIGTERM/SIGINT, or
 * `berth local-ec2 cleanup --data-dir <dir>`. The first line on stdout is JSON
 * `{"ec2": url, "instances": [{id, az, imds, devdir}]}`; logs are JSON lines on stderr.
 */
import { parseArgs } from 'node:util';
import type { LogLevel } from '../config';
import { createLogger } from '../log';
import { cleanupLocalEc2 } from './cleanup';
import { parseDelays, parseInstanceSpec } from './cli-options';
import { DEFAULT_ACCESS_KEY } from './credentials';
import { parseThrottle } from './rate-limits';
import { startLocalEc2 } from './server';

export { startLocalEc2 } from './server';
export type { LocalEc2, LocalEc2Instance, LocalEc2Options } from './server';
export type { InstanceSpec } from './instance-setup';
export { cleanupLocalEc2 } from './cleanup';

const USAGE = `usage: local-ec2 --listen 127.0.0.1:<port|0>|unix:<path> --data-dir <dir> [--instance <spec>]...
                 [--delays create=1s,attach=2s,detach=1s,delete=0,modify=0,snapshot=0,instance=0|realistic]
                 [--throttle off|aws|aws/N] [--access-key <id> --secret-key <secret>] [--account-id <12 digits>]
                 [--log-level error|warn|info|debug]
       local-ec2 cleanup --data-dir <dir>
instance spec: id=i-...,az=us-east-1a,imds=127.0.0.1:0,devdir=<dir>,devices=nitro|xvd,imdsv2=required|optional,hoplimit=1..64,type=m5.large,maxvolumes=N,role=<name>`;

function logLevel(text: string | undefined): LogLevel {
  const level = text ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(level)) throw new Error(`--log-level ${level}: expected error, warn, info or debug\n${USAGE}`);
  return level as LogLevel;
}

async function runCleanup(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } }, strict: true });
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error(`cleanup needs --data-dir\n${USAGE}`);
  const report = await cleanupLocalEc2(dataDir);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function stopSignal(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => {
    stop = (signal) => {
      dispose();
      resolve(signal);
    };
  });
  const dispose = () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return { received, dispose };
}

export async function localEc2Main(argv: string[]): Promise<void> {
  if (argv[0] === 'cleanup') return runCleanup(argv.slice(1));
  if (argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      instance: { type: 'string', multiple: true },
      delays: { type: 'string' },
      throttle: { type: 'string' },
      'access-key': { type: 'string' },
      'secret-key': { type: 'string' },
      'account-id': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  if (!values.listen || !values['data-dir']) throw new Error(`--listen and --data-dir are required\n${USAGE}`);
  if (Boolean(values['access-key']) !== Boolean(values['secret-key'])) throw new Error('--access-key and --secret-key go together');
  if (values['account-id'] !== undefined && !/^\d{12}$/.test(values['account-id'])) throw new Error('--account-id must be 12 digits');
  const accessKey = values['access-key'] ? { accessKeyId: values['access-key'], secretAccessKey: values['secret-key']! } : DEFAULT_ACCESS_KEY;
  const logger = createLogger({ level: logLevel(values['log-level']), stream: process.stderr, secrets: [accessKey.secretAccessKey] });

  const instances = (values.instance ?? []).map(parseInstanceSpec);
  const delays = values.delays ? parseDelays(values.delays) : undefined;
  const throttleDivisor = values.throttle ? parseThrottle(values.throttle) : undefined;
  const stop = stopSignal();
  let endpoint;
  try {
    endpoint = await startLocalEc2({
      listen: values.listen,
      dataDir: values['data-dir'],
      instances,
      delays,
      throttleDivisor,
      accessKeys: [accessKey],
      accountId: values['account-id'],
      logger,
    });
  } catch (err) {
    stop.dispose();
    throw err;
  }
  process.stdout.write(`${JSON.stringify({ ec2: endpoint.ec2Url, instances: endpoint.instances })}\n`);
  const signal = await stop.received;
  logger.info('stopping: volumes and attachments are kept', { signal });
  await endpoint.close();
}
