/**
 * Item 5: 25 containers started at once on 25 volumes of one instance (m5.large takes 26 data volumes), as a
 * deploy of many services would. Wall time, EC2 calls (batching should fold the many Describe calls), failures.
 */
import type { BenchContext } from '../context';
import { countCalls, type ActionCounts } from '../endpoint-calls';
import { IMAGE } from '../stage';
import { msSince, round } from '../stats';

export const PARALLEL_CONTAINERS = 25;

export interface ParallelResult {
  containers: number;
  start: { wallMs: number; failures: string[]; counts: ActionCounts };
  stop: { wallMs: number; failures: string[]; counts: ActionCounts };
}

export async function benchParallel(ctx: BenchContext): Promise<ParallelResult> {
  const { dockerd, endpoint, plugin } = ctx;
  const names = Array.from({ length: PARALLEL_CONTAINERS }, (_, i) => `bench-par-${String(i).padStart(2, '0')}`);
  for (const name of names) await dockerd.dockerOk(['volume', 'create', '--driver', plugin.name, name]);
  const containers: string[] = [];
  try {
    const startFailures: string[] = [];
    const start = process.hrtime.bigint();
    const started = await countCalls(endpoint.ec2, () =>
      Promise.all(
        names.map(async (name) => {
          const out = await dockerd.docker(['run', '-d', '--network', 'none', '-v', `${name}:/data`, IMAGE, 'sleep', '3600'], { timeoutMs: 180_000 });
          if (out.code === 0) containers.push(out.stdout.trim());
          else startFailures.push(`${name}: ${out.stderr.trim()}`);
        }),
      ),
    );
    const startMs = msSince(start);
    ctx.progress(`parallel start: ${PARALLEL_CONTAINERS} containers in ${startMs.toFixed(0)} ms, ${startFailures.length} failed`);

    const stopFailures: string[] = [];
    const stop = process.hrtime.bigint();
    const stopped = await countCalls(endpoint.ec2, () =>
      Promise.all(
        containers.map(async (id) => {
          const out = await dockerd.docker(['rm', '-f', id], { timeoutMs: 180_000 });
          if (out.code !== 0) stopFailures.push(`${id}: ${out.stderr.trim()}`);
        }),
      ),
    );
    const stopMs = msSince(stop);
    containers.length = 0;
    return {
      containers: PARALLEL_CONTAINERS,
      start: { wallMs: round(startMs, 0), failures: startFailures, counts: started.counts },
      stop: { wallMs: round(stopMs, 0), failures: stopFailures, counts: stopped.counts },
    };
  } finally {
    if (containers.length > 0) await dockerd.docker(['rm', '-f', ...containers], { timeoutMs: 180_000 });
    await dockerd.docker(['volume', 'rm', ...names], { timeoutMs: 300_000 });
  }
}
