/**
 * berth in a real three-node Docker Swarm on this machine (see cluster.ts): sw1 (manager) in us-east-1b, sw2 and sw3
 * in us-east-1a, each its own instance of one local EC2 endpoint, berth installed in each from a registry.
 *
 * What a user moving services between hosts would notice: one volume per name whatever the race, a drained node's
 * task and volume moving with their data, a dead node's volume refused (naming its holder) or taken over and fenced,
 * redeploys that leave nothing attached behind, and volumes that follow a task into another zone only when asked.
 * Figures (drain time and berth's share of it, EC2 calls per move) are printed at the end.
 */
import fs from 'node:fs';
import { missingDocker, missingRegistry } from '../support/dockerd';
import { expectNothingFor, waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { PLUGIN, Swarm } from './cluster';
import type { EndpointCall } from './endpoint';
import type { SwarmNode } from './node';
import { pluginCalls, pluginLines, type PluginCall } from './plugin-log';
import {
  assertHistory,
  createWriter,
  describeHistory,
  parseJournal,
  removeService,
  runningOn,
  taskStatuses,
  tasksOf,
  waitForTask,
  waitForWrites,
  type Task,
  type TaskStatus,
  type WriterService,
} from './services';
import { countByAction, fsck, liveVolumes, mountsOf, readFromImage, theVolume, volumeById } from './volumes';

const ZONE_A = 'us-east-1a';
const ZONE_B = 'us-east-1b';
const IN_ZONE_A = `node.labels.berth.az==${ZONE_A}`;
/** berth's List cache lifetime (EBS_LISTCACHE default). */
const LIST_CACHE_MS = 5000;

function missingTools(): string | undefined {
  for (const command of ['ip', 'nsenter', 'unshare', 'debugfs', 'e2fsck']) {
    if (!['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => fs.existsSync(`${dir}/${command}`))) return `${command} is not installed`;
  }
  return undefined;
}

const say = (line: string) => process.stderr.write(`[swarm] ${line}\n`);
const callTime = (call: EndpointCall) => (typeof call.time === 'number' ? call.time : Date.parse(call.time));
const total = (calls: PluginCall[]) => Math.round(calls.reduce((sum, call) => sum + call.durationMs, 0));
const countBy = (items: string[]) => items.reduce<Record<string, number>>((counts, item) => ({ ...counts, [item]: (counts[item] ?? 0) + 1 }), {});
const describeCall = (call: PluginCall) => `${call.method} ${call.outcome} ${Math.round(call.durationMs)} ms${call.error ? `: ${call.error}` : ''}`;

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop() ?? missingTools(), 'berth in a three-node Docker Swarm', () => {
  let swarm: Swarm;
  const figures: Record<string, unknown> = {};

  const otherInZoneA = (hostname: string) => swarm.node(hostname === 'sw2' ? 'sw3' : 'sw2');
  const callsOf = (node: SwarmNode, volume: string, from: number, to = Infinity) =>
    pluginCalls(node.log(), swarm.pluginId(node)).filter((call) => call.volume === volume && call.end >= from && call.start <= to);

  /** Runs the check; on failure adds what berth did with the volume on every node since `since`. */
  function explained(check: () => void, volume: string, since: number): void {
    try {
      check();
    } catch (err) {
      const calls = swarm.nodes.flatMap((node) =>
        pluginCalls(node.log(), swarm.pluginId(node))
          .filter((call) => call.volume === volume && call.end >= since)
          .map((call) => ({ node: node.id, call })),
      );
      const account = calls
        .sort((a, b) => a.call.start - b.call.start)
        .map(({ node, call }) => `  ${new Date(call.start).toISOString().slice(11, 23)} ${node} ${describeCall(call)}`)
        .join('\n');
      throw new Error(`${(err as Error).message}\nberth calls:\n${account}`);
    }
  }

  /** waitForTask; a failure says what every node has mounted and what dockerd said about plugins. */
  function taskWhere(service: string, pick: (tasks: Task[]) => Task | undefined, what: string, timeoutMs: number): Promise<Task> {
    return waitForTask(swarm, service, pick, what, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n${swarm.nodes.map((node) => node.mountReport()).join('\n')}`);
    });
  }

  /** Removes the service and waits until no node mounts the volume and EC2 shows it detached. */
  async function finish(service: WriterService | undefined, timeoutMs = 60_000): Promise<void> {
    if (!service) return;
    await removeService(swarm, service.name);
    await waitFor(
      `${service.volume} released after removing ${service.name}`,
      async () => {
        if (swarm.nodes.some((node) => mountsOf(node, service.volume).length > 0)) return undefined;
        const live = await liveVolumes(swarm.endpoint, service.volume);
        return live.every((volume) => !volume.attachment) || undefined;
      },
      { timeoutMs, retryErrors: true },
    );
  }

  beforeAll(async () => {
    swarm = new Swarm({ zones: [ZONE_B, ZONE_A, ZONE_A], log: say });
    await swarm.bringUp();
    figures.bringUp = swarm.times;
    say(`up: ${JSON.stringify(swarm.times)}`);
  }, 10 * 60_000);

  beforeEach(async () => {
    await swarm.repairLostPropagation();
  }, 5 * 60_000);

  afterAll(async () => {
    if (swarm?.propagationRepairs.length) figures.dockerLostPluginPropagatedMount = swarm.propagationRepairs;
    say(`figures:\n${JSON.stringify(figures, null, 2)}`);
    await swarm?.teardown();
  }, 5 * 60_000);

  it('drain: the task moves, the old node unmounts and detaches, the new one attaches and mounts, data intact (no delays, then EC2-like delays)', async () => {
    const service = await createWriter(swarm, { name: 'drain', volume: 'drain-data', constraints: [IN_ZONE_A] });
    const moves: Array<Record<string, unknown>> = [];
    try {
      let task = await taskWhere(service.name, runningOn(), 'running', 90_000);
      for (const delays of ['', 'realistic']) {
        if (swarm.endpoint.delays !== delays) await swarm.endpoint.restart(delays);
        const from = swarm.node(task.node);
        const to = otherInZoneA(task.node);
        await waitForWrites(from, task, 3);
        const volume = await theVolume(swarm.endpoint, service.volume);
        const seq = await swarm.endpoint.lastSeq();
        const drainedAt = Date.now();
        await swarm.manager.dockerOk(['node', 'update', '--availability', 'drain', from.id]);
        let moved: Task;
        try {
          moved = await taskWhere(service.name, runningOn(to.id), `running on ${to.id}`, 120_000);
        } finally {
          await swarm.manager.dockerOk(['node', 'update', '--availability', 'active', from.id]);
        }
        const runningAt = moved.since;

        expect(mountsOf(from, service.volume)).toEqual([]);
        expect(mountsOf(to, service.volume)).toHaveLength(1);
        const now = await volumeById(swarm.endpoint, volume.id);
        expect(now?.attachment).toMatchObject({ instanceId: swarm.instanceOf(to).id, status: 'attached' });
        const read = await waitForWrites(to, moved, 2);
        expect(read.journal.some((line) => line.task === task.id)).toBe(true);
        assertHistory(read, service);

        const calls = (await swarm.endpoint.calls(seq)).filter((call) => callTime(call) <= runningAt);
        const detaches = calls.filter((call) => call.action === 'DetachVolume' && call.volumeId === volume.id);
        expect(detaches.map((call) => call.instanceId)).toContain(swarm.instanceOf(from).id);
        // Docker may mount a new container's volume twice (a Mount/Unmount pair to copy the image's /data in first).
        const oldCalls = callsOf(from, service.volume, drainedAt, runningAt);
        const newCalls = callsOf(to, service.volume, drainedAt, runningAt);
        expect(oldCalls.filter((call) => call.method === 'Unmount' && call.outcome === 'ok')).toHaveLength(1);
        expect(newCalls.filter((call) => call.method === 'Mount' && call.outcome === 'ok').length).toBeGreaterThanOrEqual(1);
        expect(newCalls.filter((call) => call.method === 'Mount').pop()?.outcome).toBe('ok');
        const berthMs = total(oldCalls) + total(newCalls);
        const rejected = (await tasksOf(swarm, service.name)).filter((item) => item.state === 'rejected' && item.since >= drainedAt);
        const move = {
          delays: delays || 'none',
          from: from.id,
          to: to.id,
          drainToRunningMs: runningAt - drainedAt,
          berthMs,
          berthShare: Number((berthMs / (runningAt - drainedAt)).toFixed(2)),
          rejectedTasks: rejected.map((item) => `${item.node}: ${item.error}`),
          // berth's calls on both nodes (Get omitted), +ms after the drain command
          timeline: [...oldCalls.map((call) => ({ node: from.id, call })), ...newCalls.map((call) => ({ node: to.id, call }))]
            .filter(({ call }) => call.method !== 'Get')
            .sort((a, b) => a.call.start - b.call.start)
            .map(({ node, call }) => `+${Math.round(call.start - drainedAt)} ${node} ${describeCall(call)}`),
          ec2Calls: calls.length,
          ec2CallsByAction: countByAction(calls),
          attachesAndDetaches: calls
            .filter((call) => call.volumeId === volume.id && /^(Attach|Detach)Volume$/.test(call.action))
            .map((call) => `${call.action} ${swarm.nodeOfInstance(call.instanceId ?? '')?.id ?? call.instanceId} ${call.result} +${callTime(call) - drainedAt} ms`),
        };
        say(`drain move: ${JSON.stringify(move)}`);
        moves.push(move);
        task = moved;
      }
    } finally {
      figures.drain = moves;
      if (swarm.endpoint.delays !== '') await swarm.endpoint.restart('');
      await finish(service);
    }
  }, 5 * 60_000);

  it('one EBS volume per name when two nodes create it at once (20 rounds), listed on every node within the List cache lifetime', async () => {
    const pairs: Array<[SwarmNode, SwarmNode]> = [
      [swarm.node('sw2'), swarm.node('sw3')],
      [swarm.node('sw3'), swarm.node('sw1')],
      [swarm.node('sw1'), swarm.node('sw2')],
    ];
    let bothCreated = 0;
    const createResults: Record<string, number> = {};
    const visibleAfter: number[] = [];
    for (let round = 1; round <= 20; round++) {
      const name = `race-${round}`;
      const seq = await swarm.endpoint.lastSeq();
      // The barrier: both requests (what `docker volume create --driver berth/ebs NAME` sends) leave in the same tick,
      // once everything before is done; the CLI's own start-up time would spread them by tens of milliseconds.
      const results = await Promise.all(pairs[round % 3].map((node) => node.api('POST', '/volumes/create', { Name: name, Driver: PLUGIN })));
      const createdAt = Date.now();
      results.forEach((result, index) => {
        if (result.status !== 201) throw new Error(`round ${round}: ${pairs[round % 3][index].id}: volume create answered ${result.status}: ${result.body}`);
      });
      const named = (await swarm.endpoint.volumes()).filter((volume) => volume.tags['berth:name'] === name || volume.tags.Name === name);
      expect(named.map((volume) => volume.id)).toHaveLength(1);
      const creates = (await swarm.endpoint.calls(seq)).filter((call) => call.action === 'CreateVolume');
      if (creates.length >= 2) bothCreated++;
      for (const call of creates) createResults[call.result] = (createResults[call.result] ?? 0) + 1;
      const seen = await Promise.all(
        swarm.nodes.map((node) =>
          waitFor(
            `${name} listed by docker volume ls on ${node.id}`,
            async () => ((await node.dockerOk(['volume', 'ls', '--format', '{{.Name}}'])).split('\n').includes(name) ? Date.now() - createdAt : undefined),
            { timeoutMs: 3 * LIST_CACHE_MS, intervalMs: 100, retryErrors: true },
          ),
        ),
      );
      visibleAfter.push(Math.max(...seen));
    }
    figures.race = {
      rounds: 20,
      roundsWhereBothNodesCalledCreateVolume: bothCreated,
      createVolumeResults: createResults,
      listedEverywhereAfterMs: { max: Math.max(...visibleAfter), all: visibleAfter },
    };
    say(`race: ${JSON.stringify(figures.race)}`);
    // One listing of `docker volume ls` takes ~100 ms here: allow for that on top of the cache lifetime.
    expect(Math.max(...visibleAfter)).toBeLessThanOrEqual(LIST_CACHE_MS + 1000);
  }, 5 * 60_000);

  it('redeploy (service update --force) 20 times: data kept, the volume attached only where the task runs', async () => {
    const service = await createWriter(swarm, { name: 'redeploy', volume: 'redeploy-data', constraints: [IN_ZONE_A] });
    const durations: number[] = [];
    const seen: string[] = [];
    try {
      let task = await taskWhere(service.name, runningOn(), 'running', 90_000);
      await waitForWrites(swarm.node(task.node), task, 2);
      const seq = await swarm.endpoint.lastSeq();
      for (let round = 1; round <= 20; round++) {
        seen.push(task.id);
        const started = Date.now();
        await swarm.manager.dockerOk(['service', 'update', '--detach', '--force', service.name]);
        const next = await taskWhere(service.name, runningOn(undefined, seen), `replacing ${task.id}`, 120_000);
        durations.push(next.since - started);
        const node = swarm.node(next.node);
        const volume = await theVolume(swarm.endpoint, service.volume);
        expect({ round, attachedTo: volume.attachment?.instanceId }).toEqual({ round, attachedTo: swarm.instanceOf(node).id });
        for (const other of swarm.nodes.filter((candidate) => candidate !== node)) expect(mountsOf(other, service.volume)).toEqual([]);
        const read = await waitForWrites(node, next, 1);
        explained(() => assertHistory(read, service, `round ${round}: `), service.volume, started - 5000);
        expect(read.journal.some((line) => line.task === task.id)).toBe(true);
        task = next;
      }
      const calls = await swarm.endpoint.calls(seq);
      const tasks = await tasksOf(swarm, service.name);
      figures.redeploy = {
        rounds: 20,
        onNodes: countBy(seen.slice(1).concat(task.id).map((id) => tasks.find((item) => item.id === id)?.node ?? '?')),
        rejectedTasks: countBy(tasks.filter((item) => item.state === 'rejected').map((item) => item.error.replace(/\(vol-[0-9a-f]+\)|i-[0-9a-f]+/g, '…'))),
        updateToRunningMs: { min: Math.min(...durations), max: Math.max(...durations), mean: Math.round(durations.reduce((a, b) => a + b, 0) / durations.length) },
        ec2CallsPerRedeploy: Number((calls.length / 20).toFixed(1)),
        ec2CallsByAction: countByAction(calls),
      };
      say(`redeploy: ${JSON.stringify(figures.redeploy)}`);
    } finally {
      await finish(service);
    }
  }, 5 * 60_000);

  it('a node cut off while holding the volume: the other node’s Mount fails naming the holder, and succeeds once it is released', async () => {
    const service = await createWriter(swarm, { name: 'cut', volume: 'cut-data', constraints: [IN_ZONE_A] });
    try {
      const first = await taskWhere(service.name, runningOn(), 'running', 90_000);
      const holder = swarm.node(first.node);
      const other = otherInZoneA(first.node);
      const holderInstance = swarm.instanceOf(holder).id;
      await waitForWrites(holder, first, 3);
      const volume = await theVolume(swarm.endpoint, service.volume);
      const seq = await swarm.endpoint.lastSeq();
      const cutAt = Date.now();
      await swarm.network.cut(holder.spec.index);
      let refused: Task;
      try {
        refused = await taskWhere(
          service.name,
          (tasks) => tasks.find((task) => task.node === other.id && task.error.includes(holderInstance)),
          `refused on ${other.id} naming ${holderInstance}`,
          90_000,
        );
        expect(refused.error).toContain(volume.id);
        expect(refused.error).toMatch(/attached to instance/);
        const mountErrors = callsOf(other, service.volume, cutAt).filter((call) => call.method === 'Mount' && call.outcome === 'error');
        expect(mountErrors.length).toBeGreaterThan(0);
        expect(mountErrors[0].error).toContain(holderInstance);
        expect(mountsOf(other, service.volume)).toEqual([]);
        expect((await volumeById(swarm.endpoint, volume.id))?.attachment?.instanceId).toBe(holderInstance);
        // What an operator does about a dead node; it also keeps Swarm from placing the task there again when it
        // returns (Swarm avoids a node where tasks keep failing, so it would otherwise prefer the old holder).
        await swarm.manager.dockerOk(['node', 'update', '--availability', 'drain', holder.id]);
      } finally {
        await swarm.network.restore(holder.spec.index);
      }
      const restoredAt = Date.now();
      let moved: Task;
      try {
        moved = await taskWhere(service.name, runningOn(other.id), `running on ${other.id}`, 120_000);
      } finally {
        await swarm.manager.dockerOk(['node', 'update', '--availability', 'active', holder.id]);
      }
      await waitFor(`${holder.id} unmounted ${service.volume}`, () => mountsOf(holder, service.volume).length === 0 || undefined, { timeoutMs: 30_000, retryErrors: true });
      expect((await volumeById(swarm.endpoint, volume.id))?.attachment).toMatchObject({ instanceId: swarm.instanceOf(other).id, status: 'attached' });
      assertHistory(await waitForWrites(other, moved, 2), service);
      const tasks = await tasksOf(swarm, service.name);
      const calls = await swarm.endpoint.calls(seq);
      const released = calls.find((call) => call.action === 'DetachVolume' && call.volumeId === volume.id && call.instanceId === holderInstance);
      figures.cutLink = {
        refusedAfterCutMs: refused.since - cutAt,
        releasedAfterRestoreMs: released ? callTime(released) - restoredAt : undefined,
        refusal: refused.error,
        runningAfterRestoreMs: moved.since - restoredAt,
        refusedAttempts: tasks.filter((task) => task.node === other.id && task.error.includes(holderInstance)).length,
        forcedDetaches: calls.filter((call) => call.action === 'DetachVolume' && call.instanceId === holderInstance && callTime(call) < restoredAt).length,
      };
      say(`cut link: ${JSON.stringify(figures.cutLink)}`);
      expect(figures.cutLink).toMatchObject({ forcedDetaches: 0 });
    } finally {
      await finish(service);
    }
  }, 5 * 60_000);

  it('without crossAZ, a task that lands in the other zone gets an Err naming both zones; the volume stays where it is', async () => {
    const service = await createWriter(swarm, { name: 'pinned', volume: 'pinned-data', constraints: ['node.hostname==sw2'] });
    try {
      const first = await taskWhere(service.name, runningOn('sw2'), 'running on sw2', 90_000);
      await waitForWrites(swarm.node('sw2'), first, 2);
      const volume = await theVolume(swarm.endpoint, service.volume);
      await swarm.manager.dockerOk(['service', 'update', '--detach', '--constraint-rm', 'node.hostname==sw2', '--constraint-add', 'node.hostname==sw1', service.name]);
      const refused = await taskWhere(
        service.name,
        (tasks) => tasks.find((task) => task.node === 'sw1' && task.error.includes(ZONE_A) && task.error.includes(ZONE_B)),
        'refused on sw1 naming both zones',
        90_000,
      );
      say(`zone refusal: ${refused.error}`);
      expect(refused.error).toContain(volume.id);
      const live = await liveVolumes(swarm.endpoint, service.volume);
      expect(live.map((item) => [item.id, item.availabilityZone])).toEqual([[volume.id, ZONE_A]]);
      expect((await swarm.endpoint.snapshots()).filter((snapshot) => snapshot.volumeId === volume.id)).toEqual([]);
    } finally {
      await finish(service);
    }
  }, 3 * 60_000);

  it('with crossAZ=snapshot, a task that lands in the other zone gets its volume moved there: data intact, old volume retired, one live volume', async () => {
    const service = await createWriter(swarm, {
      name: 'mover',
      volume: 'mover-data',
      constraints: ['node.hostname==sw2'],
      volumeOptions: { crossAZ: 'snapshot' },
    });
    let moved: Task | undefined;
    try {
      const first = await taskWhere(service.name, runningOn('sw2'), 'running on sw2', 90_000);
      await waitForWrites(swarm.node('sw2'), first, 3);
      const old = await theVolume(swarm.endpoint, service.volume);
      expect(old.availabilityZone).toBe(ZONE_A);
      const seq = await swarm.endpoint.lastSeq();
      const startedAt = Date.now();
      await swarm.manager.dockerOk(['service', 'update', '--detach', '--constraint-rm', 'node.hostname==sw2', '--constraint-add', 'node.hostname==sw1', service.name]);
      moved = await taskWhere(service.name, runningOn('sw1'), 'running on sw1', 120_000);

      const live = await liveVolumes(swarm.endpoint, service.volume);
      expect(live.map((volume) => volume.availabilityZone)).toEqual([ZONE_B]);
      expect(live[0].id).not.toBe(old.id);
      expect(live[0].attachment).toMatchObject({ instanceId: swarm.instanceOf(swarm.node('sw1')).id, status: 'attached' });
      const retired = await volumeById(swarm.endpoint, old.id);
      expect(retired).toBeDefined();
      expect(retired!.attachment).toBeUndefined();
      expect(retired!.tags['berth:retired']).toMatch(/^moved /);
      expect(retired!.tags['berth:name']).toBeUndefined();
      expect(retired!.tags['berth:namespace']).toBeUndefined();
      const snapshots = (await swarm.endpoint.snapshots()).filter((snapshot) => snapshot.volumeId === old.id);
      expect(snapshots.map((snapshot) => snapshot.id)).toContain(live[0].snapshotId);

      const read = await waitForWrites(swarm.node('sw1'), moved, 2);
      expect(read.journal.some((line) => line.task === first.id)).toBe(true);
      assertHistory(read, service);
      const calls = await swarm.endpoint.calls(seq);
      figures.crossAZ = { moveToRunningMs: moved.since - startedAt, ec2Calls: calls.length, ec2CallsByAction: countByAction(calls) };
      say(`crossAZ move: ${JSON.stringify(figures.crossAZ)}`);
    } finally {
      await finish(service);
    }
    const [volume] = await liveVolumes(swarm.endpoint, service.volume);
    const check = await fsck(swarm.endpoint, volume.id);
    expect({ clean: check.clean, output: check.clean ? '' : check.output }).toEqual({ clean: true, output: '' });
  }, 4 * 60_000);

  // After dockerd is killed (a crash) and restarted, Docker never sends Unmount for the container that died with it:
  // berth must notice that nothing holds the device any more, or that mount ID pins the volume to the node.
  it('a node whose dockerd crashed and came back lets its volume move on afterwards (the dead container\'s mount ID does not pin it)', async () => {
    const sw2 = swarm.node('sw2');
    const service = await createWriter(swarm, { name: 'comeback', volume: 'comeback-data', constraints: ['node.hostname==sw2'] });
    let failure: unknown;
    try {
      const first = await taskWhere(service.name, runningOn('sw2'), 'running on sw2', 90_000);
      await waitForWrites(sw2, first, 2);
      await sw2.killDockerd();
      await swarm.restartDockerd(sw2);
      const again = await taskWhere(service.name, runningOn('sw2', [first.id]), 'running again on sw2 after its dockerd came back', 120_000);
      await waitForWrites(sw2, again, 2);
      await swarm.manager.dockerOk(['service', 'update', '--detach', '--constraint-rm', 'node.hostname==sw2', '--constraint-add', 'node.hostname==sw3', service.name]);
      const moved = await taskWhere(service.name, runningOn('sw3'), 'running on sw3', 45_000).catch((err: Error) => {
        const lines = pluginLines(sw2.log(), swarm.pluginId(sw2)).filter((line) => JSON.stringify(line.fields).includes(service.volume));
        throw new Error(`${err.message}\nberth on sw2 about ${service.volume}:\n${lines.map((line) => `  ${line.level} ${line.message} ${JSON.stringify(line.fields)}`).join('\n')}`);
      });
      expect(mountsOf(sw2, service.volume)).toEqual([]);
      assertHistory(await waitForWrites(swarm.node('sw3'), moved, 2), service);
    } catch (err) {
      failure = err;
    } finally {
      await finish(service, failure ? 5_000 : 60_000).catch((err: Error) => (failure ??= err));
    }
    if (failure) throw failure;
  }, 5 * 60_000);

  describe('with preemption (EBS_PREEMPT=true on every node; the last scenarios)', () => {
    beforeAll(async () => {
      await swarm.setPluginSettings({ EBS_PREEMPT: 'true' });
    }, 5 * 60_000);

    const deaths = [
      { death: 'its dockerd killed', service: 'fenced-kill' },
      { death: 'its link cut', service: 'fenced-cut' },
    ];
    it.each(deaths)(
      'a node holding the volume dies ($death): the other node takes it over, the old writes fail, fsck passes, and the old node cleans up without re-attaching',
      async ({ death, service: name }) => {
        const service = await createWriter(swarm, { name, volume: `${name}-data`, constraints: [IN_ZONE_A] });
        let volumeId = '';
        try {
          const first = await taskWhere(service.name, runningOn(), 'running', 90_000);
          const dead = swarm.node(first.node);
          const other = otherInZoneA(first.node);
          const deadInstance = swarm.instanceOf(dead).id;
          await waitForWrites(dead, first, 3);
          volumeId = (await theVolume(swarm.endpoint, service.volume)).id;
          const seq = await swarm.endpoint.lastSeq();
          const diedAt = Date.now();
          if (death === 'its dockerd killed') await dead.killDockerd();
          else await swarm.network.cut(dead.spec.index);
          let moved: Task;
          let fenced: TaskStatus;
          try {
            moved = await taskWhere(service.name, runningOn(other.id), `running on ${other.id}`, 120_000);
            // The old container still runs on the dead node, and its writes now fail.
            fenced = await waitFor(
              'the old task’s writes to fail',
              () => {
                const status = taskStatuses(service).get(first.id);
                return status?.attempts.some((attempt) => !attempt.ok) ? status : undefined;
              },
              { timeoutMs: 15_000, retryErrors: true },
            );
            expect(mountsOf(dead, service.volume)).toHaveLength(1);
          } finally {
            if (death === 'its dockerd killed') await swarm.restartDockerd(dead);
            else await swarm.network.restore(dead.spec.index);
          }
          const backAt = Date.now();
          const firstFailure = fenced.attempts.find((attempt) => !attempt.ok)!;
          expect(fenced.attempts.filter((attempt) => attempt.ok && attempt.time > firstFailure.time)).toEqual([]);
          assertHistory(await waitForWrites(other, moved, 3), service);
          const forced = (await swarm.endpoint.calls(seq)).filter(
            (call) => call.action === 'DetachVolume' && call.volumeId === volumeId && call.instanceId === deadInstance && callTime(call) < backAt,
          );
          expect(forced.length).toBeGreaterThan(0);

          // The dead node is back: its stale mount goes, and the volume is left where it is now used.
          await waitFor(`${dead.id} drops its stale mount`, () => mountsOf(dead, service.volume).length === 0 || undefined, { timeoutMs: 60_000, retryErrors: true });
          await swarm.waitForNodes((nodes) => nodes.every((node) => node.status === 'Ready'), 60_000);
          const attachFromDead = async () =>
            (await swarm.endpoint.calls(seq)).find((call) => call.action === 'AttachVolume' && call.instanceId === deadInstance);
          await expectNothingFor(`${dead.id} attaching the volume again after it came back`, attachFromDead, { forMs: 3000, intervalMs: 250 });
          const calls = await swarm.endpoint.calls(seq);
          expect(calls.filter((call) => call.action === 'AttachVolume' && call.instanceId === deadInstance)).toEqual([]);
          expect((await volumeById(swarm.endpoint, volumeId))?.attachment).toMatchObject({ instanceId: swarm.instanceOf(other).id, status: 'attached' });
          expect(mountsOf(other, service.volume)).toHaveLength(1);
          // The new task keeps writing now that the old node is back.
          const checkedAt = Date.now();
          const keepsWriting = await waitFor(
            'the new task to write after the old node came back',
            () => taskStatuses(service).get(moved.id)?.attempts.some((attempt) => attempt.ok && attempt.time > checkedAt) || undefined,
            { timeoutMs: 10_000, retryErrors: true },
          ).catch((err: Error) => err);
          if (keepsWriting instanceof Error) {
            const tasks = (await tasksOf(swarm, service.name)).map((task) => `  ${task.id.slice(0, 10)} ${task.node} ${task.desired}/${task.state} ${task.error}`);
            explained(() => {
              throw new Error(
                `${keepsWriting.message} (${dead.id} back at ${new Date(backAt).toISOString()})\n${describeHistory([], taskStatuses(service))}\ntasks:\n${tasks.join('\n')}\n` +
                  `${other.mountReport()}\nEC2 calls:\n${calls.map((call) => `  ${call.time} ${call.action} ${call.volumeId ?? ''} ${swarm.nodeOfInstance(call.instanceId ?? '')?.id ?? call.instanceId ?? ''} ${call.result}`).join('\n')}`,
              );
            }, service.volume, diedAt - 2000);
          }
          const afterReturn = pluginLines(dead.log(), swarm.pluginId(dead)).filter(
            (line) => line.time >= backAt - 15_000 && [service.volume, volumeId].some((needle) => JSON.stringify(line.fields).includes(needle)),
          );
          const figure = {
            runningOnOtherNodeAfterDeathMs: moved.since - diedAt,
            oldWritesFailedAfterDeathMs: Math.round(firstFailure.time - diedAt),
            oldNodeAfterReturn: afterReturn.map((line) => `${line.level} ${line.message}${line.fields.method ? ` ${line.fields.method} ${line.fields.outcome}` : ''}`),
            ec2CallsByAction: countByAction(calls),
          };
          figures[`preemption, ${death}`] = figure;
          say(`preemption, ${death}: ${JSON.stringify(figure)}`);
        } finally {
          await finish(service);
        }
        // On disk, once released: a clean filesystem whose journal is the tasks' runs one after the other.
        const check = await fsck(swarm.endpoint, volumeId);
        expect({ clean: check.clean, output: check.clean ? '' : check.output }).toEqual({ clean: true, output: '' });
        const onDisk = parseJournal(await readFromImage(swarm.endpoint, volumeId, '/data/journal'));
        assertHistory({ journal: onDisk, readAt: Infinity }, service, 'on disk: ');
      },
      5 * 60_000,
    );
  });
});
