/**
 * What every e2e file sets up: a private dockerd with the busybox test image, the local EC2 endpoint with one
 * instance whose device links live under the host's /dev (the plugin sees them through its /dev mount), and
 * helpers to run containers, read the endpoint's view of volumes and tear everything down even after a failure.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { CommandOutput } from '../support/commands';
import { importBusyboxImage, startDockerd, type Dockerd, type PrivateDockerd } from '../support/dockerd';
import { startLocalEc2, TEST_ACCESS_KEY, TEST_SECRET_KEY, type EndpointInstance, type LocalEc2 } from '../support/local-ec2';
import { waitFor } from '../support/poll';
import { processesInCgroup } from '../support/processes';
import { pluginLog } from './plugin-harness';

export const PLUGIN = 'berth/ebs:latest';
export const IMAGE = 'berth-test/busybox:latest';

/** A volume as the local EC2 endpoint holds it (GET /_berth/state). */
export interface EndpointVolume {
  id: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  availabilityZone: string;
  lifecycle: string;
  tags: Record<string, string>;
  attachment?: { instanceId: string; device: string; status: string; loopDevice?: string; link?: string };
}

export interface E2eSetup {
  dockerd: PrivateDockerd;
  ec2: LocalEc2;
  instance: EndpointInstance;
  /** `docker plugin set` / `install` settings pointing berth at the endpoint as this instance. */
  endpointSettings: Record<string, string>;
}

/** Starts the endpoint (device links in a fresh /dev/bt-e2e-* directory) and a private dockerd with the image. */
export async function startSetup(
  parts: Partial<E2eSetup> & { devdir?: string; otherInstances?: string[]; endpointArgs?: string[] } = {},
): Promise<E2eSetup & { devdir: string }> {
  const devdir = parts.devdir ?? `/dev/bt-e2e-${crypto.randomBytes(3).toString('hex')}`;
  fs.mkdirSync(devdir, { recursive: true });
  const ec2 = await startLocalEc2([`devdir=${devdir}`, ...(parts.otherInstances ?? [])], parts.endpointArgs ?? []);
  const instance = ec2.instances[0];
  let dockerd: PrivateDockerd | undefined;
  try {
    dockerd = await startDockerd();
    await importBusyboxImage(dockerd, IMAGE);
  } catch (err) {
    await dockerd?.stop().catch(() => undefined);
    await ec2.destroy().catch(() => undefined);
    fs.rmSync(devdir, { recursive: true, force: true });
    throw err;
  }
  return {
    dockerd,
    ec2,
    instance,
    devdir,
    endpointSettings: {
      EBS_ENDPOINT: ec2.ec2,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.imds,
      EBS_ACCESSKEY: TEST_ACCESS_KEY,
      EBS_SECRETKEY: TEST_SECRET_KEY,
      EBS_DEVICEDIR: instance.devdir,
      EBS_LOGLEVEL: 'debug',
    },
  };
}

/** Runs every cleanup step even when some fail; throws one error naming every failure. */
export async function cleanUp(steps: Array<[string, () => Promise<unknown> | unknown]>): Promise<void> {
  const problems: string[] = [];
  for (const [what, step] of steps) {
    try {
      const result = await step();
      if (Array.isArray(result) && result.length > 0) problems.push(`${what}: ${result.join('; ')}`);
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`cleanup:\n${problems.join('\n')}`);
}

/** Stops the dockerd (what it still runs included), then the endpoint and its loop devices, then the device dir. */
export function setupTeardown(setup: (E2eSetup & { devdir: string }) | undefined): Array<[string, () => Promise<unknown> | unknown]> {
  return [
    ['dockerd', () => setup?.dockerd.stop()],
    ['local EC2 endpoint', () => setup?.ec2.destroy()],
    ['device dir', () => setup && fs.rmSync(setup.devdir, { recursive: true, force: true })],
  ];
}

/** The endpoint's data volumes (instances' root volumes left out). */
export async function endpointVolumes(ec2: LocalEc2): Promise<EndpointVolume[]> {
  const state = (await ec2.admin('GET', 'state')) as { volumes: Array<EndpointVolume & { rootOf?: string }> };
  return state.volumes.filter((volume) => !volume.rootOf);
}

/** The endpoint's volumes whose tag `key` is `value` (e.g. berth:name = <docker volume name>). */
export async function endpointVolumesTagged(ec2: LocalEc2, key: string, value: string): Promise<EndpointVolume[]> {
  return (await endpointVolumes(ec2)).filter((volume) => volume.tags[key] === value);
}

/** Volume ids of EC2 calls of one action since a call-log sequence number. */
export async function callsSince(ec2: LocalEc2, since: number, action?: string): Promise<Array<{ seq: number; action: string; volumeId?: string; result: string }>> {
  const calls = (await ec2.admin('GET', `calls?since=${since}`)) as Array<{ seq: number; action: string; volumeId?: string; result: string }>;
  return action ? calls.filter((call) => call.action === action) : calls;
}

export async function lastCallSeq(ec2: LocalEc2): Promise<number> {
  const calls = (await ec2.admin('GET', 'calls')) as Array<{ seq: number }>;
  return calls.length > 0 ? calls[calls.length - 1].seq : 0;
}

/** A failure message with the command's output and the plugin's recent log lines. */
export function explain(dockerd: Dockerd, pluginId: string | undefined, what: string, out: CommandOutput): string {
  return `${what}: exit ${out.code}${out.timedOut ? ' (timed out)' : ''}\n${out.stderr}${out.stdout}\n--- plugin log ---\n${pluginId ? pluginLog(dockerd, pluginId) : ''}`;
}

/** Runs docker and throws an explained error unless it exits 0; returns stdout. */
export async function dockerOk(dockerd: Dockerd, pluginId: string | undefined, args: string[], timeoutMs = 150_000): Promise<string> {
  const out = await dockerd.docker(args, { timeoutMs });
  if (out.code !== 0) throw new Error(explain(dockerd, pluginId, `docker ${args.join(' ')}`, out));
  return out.stdout;
}

/**
 * A shell loop for a detached container: appends the next number (one line; it continues from the lines already in
 * `file`, so a restarted container carries on the count) every 100 ms, and exits on SIGTERM (busybox sh as PID 1
 * ignores it otherwise, and `docker stop` would wait 10 s).
 */
export function writerScript(file: string): string {
  return `trap "exit 0" TERM; i=0; [ -f ${file} ] && i=$(wc -l < ${file}); while true; do i=$((i+1)); echo $i >> ${file}; sleep 0.1; done`;
}

/** The last number a writer container appended to `file`, read through the container itself. */
export async function lastWritten(dockerd: Dockerd, container: string, file: string): Promise<number> {
  const out = await dockerd.docker(['exec', container, 'tail', '-n', '1', file], { timeoutMs: 30_000 });
  if (out.code !== 0) throw new Error(`docker exec ${container} tail ${file}: exit ${out.code}: ${out.stderr}`);
  return Number(out.stdout.trim() || '0');
}

/** Waits (bounded) until the writer container appended past what it had written: it is still writing. */
export async function expectStillWriting(dockerd: Dockerd, container: string, file: string, timeoutMs = 10_000): Promise<number> {
  const before = await lastWritten(dockerd, container, file);
  let now = before;
  const wroteMore = async () => ((now = await lastWritten(dockerd, container, file)) > before ? now : undefined);
  return waitFor(`container ${container} to write on past line ${before} of ${file}`, wroteMore, { timeoutMs, intervalMs: 300 }).catch((err: Error) => {
    throw new Error(`container ${container} stopped writing ${file}: still at ${now} (${err.message})`);
  });
}

/** Every line must be the previous plus one: nothing written was lost or torn. */
export function expectUnbrokenCount(text: string, atLeast: number): void {
  const numbers = text.trim().split('\n').map(Number);
  const broken = numbers.findIndex((n, i) => n !== i + 1);
  if (broken >= 0) throw new Error(`line ${broken + 1} is ${JSON.stringify(text.trim().split('\n')[broken])}, expected ${broken + 1}`);
  expect(numbers.length).toBeGreaterThanOrEqual(atLeast);
}

/** Pids of the plugin's daemon (node running /berth/cli.js) inside the plugin's cgroup, named by its id. */
export function pluginDaemonPids(pluginId: string): number[] {
  return processesInCgroup(pluginId, '/berth/cli.js');
}
