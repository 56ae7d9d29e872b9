/** Item 4: EC2 calls per operation, counted at the endpoint, for Docker commands a user types. */
import type { BenchContext } from '../context';
import { countCalls, untilDetached, type ActionCounts } from '../endpoint-calls';
import { IMAGE } from '../stage';
import { msSince, round } from '../stats';
import { sleep } from '../../test/support/poll';

export interface CallsPerOperation {
  /** docker volume create (Get, Create, Get). */
  create: ActionCounts;
  /** docker run -d on a path the image lacks (one Mount; no copy of image content). */
  firstMount: ActionCounts;
  /** docker rm -f of that container (one Unmount), until the volume is detached (after the release delay). */
  unmount: ActionCounts;
  /** docker volume rm (Remove). */
  remove: ActionCounts;
  /** docker run --rm on /data, which the image has (Docker mounts once more to copy image content), until detached. */
  runOnImagePath: ActionCounts;
}

export async function benchCallsPerOperation(ctx: BenchContext): Promise<CallsPerOperation> {
  const { dockerd, endpoint, plugin } = ctx;
  const volume = 'bench-calls';
  const create = await countCalls(endpoint.ec2, () => dockerd.dockerOk(['volume', 'create', '--driver', plugin.name, volume]));
  const mount = await countCalls(endpoint.ec2, () =>
    dockerd.dockerOk(['run', '-d', '--network', 'none', '-v', `${volume}:/bench`, IMAGE, 'sleep', '3600'], { timeoutMs: 180_000 }),
  );
  const container = mount.value.trim();
  const unmount = await countCalls(endpoint.ec2, async () => {
    await dockerd.dockerOk(['rm', '-f', container], { timeoutMs: 180_000 });
    await untilDetached(endpoint.ec2, volume);
  });
  const run = await countCalls(endpoint.ec2, async () => {
    await dockerd.dockerOk(['run', '--rm', '--network', 'none', '-v', `${volume}:/data`, IMAGE, 'true'], { timeoutMs: 180_000 });
    await untilDetached(endpoint.ec2, volume);
  });
  const remove = await countCalls(endpoint.ec2, () => dockerd.dockerOk(['volume', 'rm', volume], { timeoutMs: 180_000 }));
  return { create: create.counts, firstMount: mount.counts, unmount: unmount.counts, remove: remove.counts, runOnImagePath: run.counts };
}

export interface ListCalls {
  volumesListed: number;
  cold: { counts: ActionCounts; ms: number };
  warm: { counts: ActionCounts; ms: number };
}

/**
 * `docker volume ls` with the bulk volumes present: cold (berth's listing is older than its List cache, and no
 * List came within the keep-warm period), then at once again (warm, within the cache's lifetime).
 */
export async function benchListCalls(ctx: BenchContext, listCacheMs: number): Promise<ListCalls> {
  const { dockerd, endpoint } = ctx;
  await sleep(listCacheMs + 1000); // berth's listing expires
  const ls = async () => {
    const start = process.hrtime.bigint();
    const out = await dockerd.dockerOk(['volume', 'ls', '--quiet'], { timeoutMs: 180_000 });
    return { out, ms: msSince(start) };
  };
  const cold = await countCalls(endpoint.ec2, ls);
  const warm = await countCalls(endpoint.ec2, ls);
  return {
    volumesListed: cold.value.out.split('\n').filter(Boolean).length,
    cold: { counts: cold.counts, ms: round(cold.value.ms, 1) },
    warm: { counts: warm.counts, ms: round(warm.value.ms, 1) },
  };
}
