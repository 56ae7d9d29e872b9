/**
 * Items 1, 2 and 7: what a user waits for. A volume's whole life (create, a container writing 1 MiB, rm), and a
 * container started on an existing formatted volume, each with berth and with Docker's built-in `local` driver,
 * alternated so that both see the same machine noise.
 */
import type { Dockerd } from '../../test/support/dockerd';
import { protocolBreakdown, protocolTimePerRun, type BenchContext, type ProtocolBreakdown } from '../context';
import type { LocalEc2 } from '../../test/support/local-ec2';
import { countCalls, untilDetached, type EndpointCall } from '../endpoint-calls';
import { IMAGE, type Plugin } from '../stage';
import { median, msSince, ratio, round, summarise, type Summary } from '../stats';

/** The container's work: 1 MiB written and flushed to the volume. */
const WRITE_1MIB = ['dd', 'if=/dev/zero', 'of=/data/blob', 'bs=1048576', 'count=1', 'conv=fsync'];

interface LifecycleSample {
  totalMs: number;
  createMs: number;
  runMs: number;
  rmMs: number;
}

/** `runs` rounds of both variants, their order flipping every round so both see the same machine noise. */
async function alternated(
  runs: number,
  first: (round: number) => Promise<void>,
  second: (round: number) => Promise<void>,
  afterRound: (round: number) => void,
): Promise<void> {
  for (let round = 0; round < runs; round++) {
    for (const run of round % 2 === 0 ? [first, second] : [second, first]) await run(round);
    afterRound(round);
  }
}

async function step(dockerd: Dockerd, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await dockerd.dockerOk(args, { timeoutMs: 180_000 });
  return msSince(start);
}

function runArgs(volume: string): string[] {
  return ['run', '--rm', '--network', 'none', '-v', `${volume}:/data`, IMAGE, ...WRITE_1MIB];
}

async function lifecycle(dockerd: Dockerd, driver: string | undefined, name: string): Promise<LifecycleSample> {
  const createMs = await step(dockerd, ['volume', 'create', ...(driver ? ['--driver', driver] : []), name]);
  const runMs = await step(dockerd, runArgs(name));
  const rmMs = await step(dockerd, ['volume', 'rm', name]);
  return { totalMs: createMs + runMs + rmMs, createMs, runMs, rmMs };
}

export interface StepSummaries {
  totalMs: Summary;
  createMs: Summary;
  runMs: Summary;
  rmMs: Summary;
}

function summariseSteps(samples: LifecycleSample[]): StepSummaries {
  return {
    totalMs: summarise(samples.map((s) => s.totalMs)),
    createMs: summarise(samples.map((s) => s.createMs)),
    runMs: summarise(samples.map((s) => s.runMs)),
    rmMs: summarise(samples.map((s) => s.rmMs)),
  };
}

/** What berth asked the endpoint per run, and how long the endpoint took to answer (EC2's share of the time). */
export interface EndpointShare {
  callsPerRun: Record<string, number>;
  msPerRun: number;
}

function endpointShare(calls: EndpointCall[], runs: number): EndpointShare {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call.action] = (counts[call.action] ?? 0) + 1;
  return {
    callsPerRun: Object.fromEntries(Object.entries(counts).map(([action, count]) => [action, round(count / runs, 1)])),
    msPerRun: round(calls.reduce((sum, call) => sum + call.durationMs, 0) / runs, 1),
  };
}

export interface LifecycleResult {
  runs: number;
  endpoint: EndpointShare;
  berth: StepSummaries;
  local: StepSummaries;
  /** berth median / local median of the whole lifecycle. */
  ratio: number;
  /** berth's protocol calls per lifecycle and their durations inside berth. */
  protocol: ProtocolBreakdown;
  protocolMsPerRun: number;
  samples: { berth: LifecycleSample[]; local: LifecycleSample[] };
}

/** Item 1. One untimed warm-up of each, then `runs` of each, the order flipping every round. */
export async function benchLifecycle(ctx: BenchContext): Promise<LifecycleResult> {
  const { dockerd, plugin, runs } = ctx;
  await lifecycle(dockerd, plugin.name, 'bench-warm-b');
  await lifecycle(dockerd, undefined, 'bench-warm-l');
  const berth: LifecycleSample[] = [];
  const local: LifecycleSample[] = [];
  const endpointCalls: EndpointCall[] = [];
  const firstCall = plugin.calls().length;
  await alternated(
    runs,
    async (i) => {
      const counted = await countCalls(ctx.endpoint.ec2, () => lifecycle(dockerd, plugin.name, `bench-life-b${i}`));
      berth.push(counted.value);
      endpointCalls.push(...counted.calls);
    },
    async (i) => void local.push(await lifecycle(dockerd, undefined, `bench-life-l${i}`)),
    (i) => ctx.progress(`lifecycle ${i + 1}/${runs}: berth ${berth[i].totalMs.toFixed(0)} ms, local ${local[i].totalMs.toFixed(0)} ms`),
  );
  const protocol = protocolBreakdown(plugin.calls().slice(firstCall), runs);
  return {
    runs,
    endpoint: endpointShare(endpointCalls, runs),
    berth: summariseSteps(berth),
    local: summariseSteps(local),
    ratio: ratio(median(berth.map((s) => s.totalMs)), median(local.map((s) => s.totalMs))),
    protocol,
    protocolMsPerRun: protocolTimePerRun(protocol),
    samples: { berth, local },
  };
}

export interface RemountResult {
  runs: number;
  endpoint: EndpointShare;
  berth: Summary;
  local: Summary;
  ratio: number;
  protocol: ProtocolBreakdown;
  protocolMsPerRun: number;
}

/** Item 2. `docker run` on a volume that exists and is formatted (its first use is untimed). */
export async function benchRemount(ctx: BenchContext): Promise<RemountResult> {
  const { dockerd, plugin, runs } = ctx;
  await step(dockerd, ['volume', 'create', '--driver', plugin.name, 'bench-remount-b']);
  await step(dockerd, ['volume', 'create', 'bench-remount-l']);
  try {
    await step(dockerd, runArgs('bench-remount-b'));
    await untilDetached(ctx.endpoint.ec2, 'bench-remount-b');
    await step(dockerd, runArgs('bench-remount-l'));
    const berth: number[] = [];
    const local: number[] = [];
    const endpointCalls: EndpointCall[] = [];
    const firstCall = plugin.calls().length;
    await alternated(
      runs,
      async () => {
        const counted = await countCalls(ctx.endpoint.ec2, () => step(dockerd, runArgs('bench-remount-b')));
        berth.push(counted.value);
        endpointCalls.push(...counted.calls);
        // Untimed: the next run must attach again, not reuse the volume lingering after this one.
        await untilDetached(ctx.endpoint.ec2, 'bench-remount-b');
      },
      async () => void local.push(await step(dockerd, runArgs('bench-remount-l'))),
      (i) => ctx.progress(`re-mount ${i + 1}/${runs}: berth ${berth[i].toFixed(0)} ms, local ${local[i].toFixed(0)} ms`),
    );
    const protocol = protocolBreakdown(plugin.calls().slice(firstCall), runs);
    return {
      runs,
      endpoint: endpointShare(endpointCalls, runs),
      berth: summarise(berth),
      local: summarise(local),
      ratio: ratio(median(berth), median(local)),
      protocol,
      protocolMsPerRun: protocolTimePerRun(protocol),
    };
  } finally {
    await dockerd.docker(['volume', 'rm', 'bench-remount-b', 'bench-remount-l'], { timeoutMs: 180_000 });
  }
}

/** Transition times the delayed endpoint injects (local-ec2 --delays). */
export const INJECTED = { createMs: 1000, attachMs: 2000, detachMs: 1000 };
export const INJECTED_DELAYS = `create=${INJECTED.createMs}ms,attach=${INJECTED.attachMs}ms,detach=${INJECTED.detachMs}ms`;

export interface DelayedResult {
  runs: number;
  delays: string;
  lifecycle: StepSummaries;
  /** The zero-delay lifecycles alternated with the delayed ones (the reference for the extra wait). */
  zeroDelayLifecycle: StepSummaries;
  protocol: ProtocolBreakdown;
  zeroDelayProtocol: ProtocolBreakdown;
  /** EC2 calls per delayed lifecycle (status polls show here). */
  callsPerRun: Record<string, number>;
  /** Injected delay per lifecycle: CreateVolume, AttachVolume and DetachVolume calls made, times their delays. */
  injectedMsPerRun: number;
  /**
   * What the delays cost beyond themselves, per lifecycle: median with delays - median at zero delay - injected.
   * Polling that notices a transition late shows here.
   */
  extraWaitMsPerRun: number;
  extraWaitShare: number;
  /** Per method: (median with delays - median at zero delay) x calls per lifecycle: where the injected time went. */
  extraWaitByMethod: Record<string, number>;
  /** Whole lifecycle: median with delays - injected, and that minus the zero-delay median. */
  lifecycleMinusInjectedMs: number;
  lifecycleExtraOverZeroDelayMs: number;
}

/**
 * Item 7. The lifecycle of item 1 against an endpoint with EC2-like transition times (its own plugin), alternated
 * with the same lifecycle on the zero-delay plugin, so the difference is what the delays cost.
 */
export async function benchDelayed(ctx: BenchContext, delayed: { plugin: Plugin; ec2: LocalEc2 }, runs: number): Promise<DelayedResult> {
  const { dockerd, plugin: zeroPlugin } = ctx;
  await lifecycle(dockerd, delayed.plugin.name, 'bench-delay-warm');
  const samples: LifecycleSample[] = [];
  const zeroSamples: LifecycleSample[] = [];
  const firstDelayed = delayed.plugin.calls().length;
  const firstZero = zeroPlugin.calls().length;
  const calls: Record<string, number> = {};
  await alternated(
    runs,
    async (i) => {
      const counted = await countCalls(delayed.ec2, () => lifecycle(dockerd, delayed.plugin.name, `bench-delay-${i}`));
      samples.push(counted.value);
      for (const [action, count] of Object.entries(counted.counts)) calls[action] = (calls[action] ?? 0) + count;
    },
    async (i) => void zeroSamples.push(await lifecycle(dockerd, zeroPlugin.name, `bench-delay-zero-${i}`)),
    (i) => ctx.progress(`delayed lifecycle ${i + 1}/${runs}: ${samples[i].totalMs.toFixed(0)} ms (zero delay ${zeroSamples[i].totalMs.toFixed(0)} ms)`),
  );
  const protocol = protocolBreakdown(delayed.plugin.calls().slice(firstDelayed), runs);
  const zeroDelayProtocol = protocolBreakdown(zeroPlugin.calls().slice(firstZero), runs);
  // What was injected is counted from the transitions berth actually asked for (a lingering volume is attached
  // once for Docker's two Mounts and detached by the Remove), not assumed per protocol call.
  const injectedPerAction: Record<string, number> = { CreateVolume: INJECTED.createMs, AttachVolume: INJECTED.attachMs, DetachVolume: INJECTED.detachMs };
  let injectedMsPerRun = 0;
  for (const [action, injected] of Object.entries(injectedPerAction)) injectedMsPerRun += ((calls[action] ?? 0) / runs) * injected;
  const extraWaitByMethod: Record<string, number> = {};
  for (const method of ['Create', 'Mount', 'Unmount', 'Remove']) {
    const slow = protocol[method];
    const zero = zeroDelayProtocol[method];
    if (slow && zero) extraWaitByMethod[method] = round((slow.durationMs.p50 - zero.durationMs.p50) * slow.perRun, 1);
  }
  const extraWaitMsPerRun = median(samples.map((s) => s.totalMs)) - median(zeroSamples.map((s) => s.totalMs)) - injectedMsPerRun;
  const lifecycleMedian = median(samples.map((s) => s.totalMs));
  return {
    runs,
    delays: INJECTED_DELAYS,
    lifecycle: summariseSteps(samples),
    zeroDelayLifecycle: summariseSteps(zeroSamples),
    protocol,
    zeroDelayProtocol,
    callsPerRun: Object.fromEntries(Object.entries(calls).map(([action, count]) => [action, round(count / runs, 1)])),
    injectedMsPerRun: round(injectedMsPerRun, 0),
    extraWaitMsPerRun: round(extraWaitMsPerRun, 1),
    extraWaitShare: ratio(extraWaitMsPerRun, injectedMsPerRun),
    extraWaitByMethod,
    lifecycleMinusInjectedMs: round(lifecycleMedian - injectedMsPerRun, 0),
    lifecycleExtraOverZeroDelayMs: round(lifecycleMedian - injectedMsPerRun - median(zeroSamples.map((s) => s.totalMs)), 0),
  };
}
