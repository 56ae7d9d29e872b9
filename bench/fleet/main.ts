/**
 * `make fleet`: a fleet of real berth daemons (legacy mode) sharing one EC2 account — the local endpoint with
 * EC2-like delays and EC2's request limits scaled to the fleet — driven by a workload over the plugin protocol.
 * Prints operations/s, p50/p99 per operation, EC2 calls per operation by action, throttled calls and every failed
 * operation, and ends with `N operations, M failed`. Exits non-zero when an operation failed or anything was left
 * behind (unless FLEET_EXPECT_FAILURES=1, for a run of an older berth).
 *
 * Settings (environment): FLEET_INSTANCES=20 FLEET_SECONDS=60 FLEET_RATE=2 (operations started per second)
 * FLEET_VOLUMES=<2 per instance> FLEET_DELAYS=realistic FLEET_THROTTLE=aws/2 FLEET_SEED=1
 * FLEET_BERTH=<cli.js of another build> FLEET_LABEL=<name in the report> FLEET_JSON=<file for the figures>
 * FLEET_LOGS=<dir to keep every daemon's log and the endpoint's in>
 */
import fs from 'node:fs';
import { callsSince, lastCall, type EndpointCall } from '../endpoint-calls';
import { setting } from '../settings';
import { Cleanup } from '../stage';
import { figures, formatFigures, type FleetFigures } from './report';
import { Workload } from './workload';
import { startWorld, type World } from './world';

const PREFIX = 'fleet';

/** The endpoint keeps its last 20,000 calls: they are collected as the run goes. */
class CallCollector {
  readonly calls: EndpointCall[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly world: World,
    private since: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.collect(), 5_000);
  }

  async stop(): Promise<EndpointCall[]> {
    clearInterval(this.timer);
    await this.collect();
    return this.calls;
  }

  private async collect(): Promise<void> {
    const fresh = await callsSince(this.world.ec2, this.since);
    if (fresh.length === 0) return;
    this.since = fresh[fresh.length - 1].seq;
    this.calls.push(...fresh);
  }
}

/** What the endpoint and this machine still hold of the fleet's volumes after the drain. */
async function leftBehind(world: World, workload: Workload): Promise<string[]> {
  const { volumes } = (await world.ec2.admin('GET', 'state')) as { volumes: Array<{ id: string; lifecycle: string; tags: Record<string, string>; attachment?: unknown }> };
  const live = volumes.filter((volume) => volume.tags['berth:name']?.startsWith(`${PREFIX}-`) && volume.lifecycle !== 'deleted' && volume.lifecycle !== 'deleting');
  return [
    ...live.map((volume) => `EBS volume ${volume.id} (${volume.tags['berth:name']}, ${volume.lifecycle}${volume.attachment ? ', attached' : ''})`),
    ...workload.leftOver().map((name) => `volume ${name} not removed`),
    ...world.mountsLeft().map((point) => `mount ${point}`),
  ];
}

async function main(): Promise<void> {
  const instances = setting('FLEET_INSTANCES', 20);
  const seconds = setting('FLEET_SECONDS', 60, { whole: false });
  const label = process.env.FLEET_LABEL ?? 'this tree';
  const cleanup = new Cleanup();
  let result: FleetFigures | undefined;
  try {
    const delays = process.env.FLEET_DELAYS ?? 'realistic';
    const throttle = process.env.FLEET_THROTTLE ?? 'aws/2';
    const started = Date.now();
    const world = await startWorld(cleanup, { instances, delays, throttle, cli: process.env.FLEET_BERTH || undefined, env: { EBS_RELEASEDELAY: '0' } });
    console.log(`fleet: ${world.hosts.length} berth daemons in ${new Set(world.hosts.map((host) => host.instance.az)).size} zones up in ${((Date.now() - started) / 1000).toFixed(1)} s; endpoint delays ${delays}, throttle ${throttle}`);
    const workload = new Workload(world.hosts, { volumes: setting('FLEET_VOLUMES', 2 * instances), rate: setting('FLEET_RATE', 2, { whole: false }), durationMs: seconds * 1000, seed: setting('FLEET_SEED', 1) }, PREFIX);
    const collector = new CallCollector(world, await lastCall(world.ec2));
    collector.start();
    const workStarted = Date.now();
    await workload.run((done, failed) => console.log(`fleet: ${done} operations, ${failed} failed, ${Math.round((Date.now() - workStarted) / 1000)} s`));
    const workSeconds = (Date.now() - workStarted) / 1000;
    console.log(`fleet: workload done (${workload.skippedTicks} ticks found every volume busy); draining`);
    await workload.drain();
    const calls = await collector.stop();
    result = figures(label, world.hosts.length, workSeconds, workload.operations, calls, await leftBehind(world, workload));
    console.log(formatFigures(result));
    if (process.env.FLEET_LOGS) world.keepLogs(process.env.FLEET_LOGS);
  } finally {
    const problems = await cleanup.runAll();
    for (const problem of problems) console.error(`fleet clean-up: ${problem}`);
    if (problems.length > 0) process.exitCode = 1;
  }
  if (process.env.FLEET_JSON) fs.writeFileSync(process.env.FLEET_JSON, `${JSON.stringify(result, null, 1)}\n`);
  const expectFailures = process.env.FLEET_EXPECT_FAILURES === '1';
  if (!result || (!expectFailures && (result.failed > 0 || result.leftBehind.length > 0))) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
