/**
 * Fault soak: for each fault the local EC2 endpoint can inject, a loop of Create / Mount / Unmount / Remove through
 * a real `berth serve` daemon's socket; then the faults are cleared and the machine is checked. Every failure must
 * be a clear Err (never berth's "internal error", which marks an unexpected exception), and nothing may be half-done: once berth's background detaches have
 * finished, EC2, the mount table, the loop devices and berth's state files (mounts.json, pending-detaches.json,
 * volumes.json) agree — no volume attached without a mount record, no volume left by a Create that answered Err,
 * none left by a Remove that answered OK, no mount, no mount directory of a removed volume.
 *
 * Each fault runs BERTH_SOAK_SECONDS seconds (default 5: the CI form; the whole suite then takes about 1.5 min).
 * Set it higher for a longer soak, e.g. `BERTH_SOAK_SECONDS=120 npx jest test/integration/fault-soak.test.ts`.
 * A one-line summary per fault (operations, failures by kind) is printed; BERTH_SOAK_VERBOSE=1 prints every Err;
 * BERTH_SOAK_DUMP=<dir> keeps the daemon's and the endpoint's logs there.
 *
 * The daemon uses instance-role credentials (so expiring credentials matter) and few SDK retries (so the faults
 * reach berth rather than being absorbed by the SDK).
 */
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../support/daemon';
import { startLocalEc2, type LocalEc2 } from '../support/local-ec2';
import { mountsUnder, unmountAllUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeAsRoot } from '../support/privileges';

const SOAK_SECONDS = Number(process.env.BERTH_SOAK_SECONDS || 5);

const SETTLE_MS = 60_000;

const FAULTS: Array<{ name: string; faults: object }> = [
  { name: 'throttle', faults: { throttle: { percent: 30 } } },
  { name: '5xx-before', faults: { serverError: { percent: 30 } } },
  { name: '5xx-after-effect', faults: { serverError: { percent: 30, afterEffect: true } } },
  { name: 'latency', faults: { latencyMs: { '*': 150, AttachVolume: 600 } } },
  { name: 'stuck-attaching', faults: { stuckAttaching: true } },
  { name: 'missing-device', faults: { missingDevice: true } },
  { name: 'expiring-credentials', faults: { credentials: { expireIssued: true, ttlSeconds: 2 } } },
];

type Daemon = RunningDaemon & { root: string };
type Op = 'Create' | 'Mount' | 'Unmount' | 'Remove';

interface VolumeRecordView {
  id: string;
  tags: Record<string, string>;
  attachment?: { instanceId: string; status: string; loopDevice?: string };
}

/** The kind of a failure: its words without ids, numbers and paths. */
function kindOf(op: Op, err: string): string {
  const words = err
    .replace(/vol-[0-9a-f]+|i-[0-9a-f]+|snap-[0-9a-f]+/g, '<id>')
    .replace(/\/[^\s:;,)]+/g, '<path>')
    .replace(/\d+(\.\d+)?/g, 'N')
    .slice(0, 90);
  return `${op}: ${words}`;
}

describeAsRoot('fault soak: Create/Mount/Unmount/Remove under every injected fault', () => {
  let endpoint: LocalEc2;
  let d: Daemon | undefined;
  let instanceId: string;

  const readState = <T>(file: string, key: string): T => {
    const full = path.join(d!.stateDir, file);
    return fs.existsSync(full) ? JSON.parse(fs.readFileSync(full, 'utf8'))[key] : ({} as T);
  };
  const soakVolumes = async (prefix: string): Promise<VolumeRecordView[]> => {
    const state = await endpoint.admin('GET', 'state');
    return (state.volumes as VolumeRecordView[]).filter((volume) => (volume.tags['berth:name'] ?? '').startsWith(prefix));
  };

  beforeAll(async () => {
    endpoint = await startLocalEc2(['id=i-0500a000000000001,az=us-east-1a']);
    instanceId = endpoint.instances[0].id;
    d = await startDaemon({
      ec2: endpoint.ec2,
      instance: endpoint.instances[0],
      keys: false,
      env: { EBS_MAXRETRIES: '2', EBS_MOUNTTIMEOUT: '4s', EBS_STATUSTIMEOUT: '20s', EBS_RELEASEWAIT: '1s', EBS_LOGLEVEL: 'info' },
    });
  });

  afterEach(async () => {
    await endpoint.admin('POST', 'faults', {});
  });

  afterAll(async () => {
    await endpoint?.admin('POST', 'faults', {}).catch(() => undefined);
    const dump = process.env.BERTH_SOAK_DUMP;
    if (dump) {
      fs.mkdirSync(dump, { recursive: true });
      if (d) fs.writeFileSync(path.join(dump, 'daemon.log'), d.logs.join(''));
      if (endpoint) fs.writeFileSync(path.join(dump, 'endpoint.log'), endpoint.output.join('\n'));
    }
    if (d) {
      await d.stop().catch(() => undefined);
      await unmountAllUnder(d.root);
      fs.rmSync(d.root, { recursive: true, force: true });
    }
    await endpoint?.destroy();
  });

  it.each(FAULTS)('$name', async ({ name, faults }) => {
    const daemon = d!;
    const prefix = `soak-${name}-`;
    const failures = new Map<string, number>();
    const unclear: string[] = [];
    const createFailed = new Map<string, string>();
    const removed = new Set<string>();
    let ops = 0;
    let cycles = 0;

    let lastErr = '';
    const call = async (op: Op, volume: string, id?: string): Promise<boolean> => {
      ops += 1;
      const reply = await daemon.call(`VolumeDriver.${op}`, id ? { Name: volume, ID: id } : { Name: volume });
      const err: string | undefined = reply.body.Err;
      if (!err) return true;
      lastErr = err;
      if (/^berth: internal error/.test(err) || err.trim().length < 10) unclear.push(`${op} ${volume}: ${err}`);
      const kind = kindOf(op, err);
      if (process.env.BERTH_SOAK_VERBOSE) console.log(`${op} ${volume}: ${err}`);
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
      return false;
    };

    await endpoint.admin('POST', 'faults', faults);
    const started = Date.now();
    while (Date.now() - started < SOAK_SECONDS * 1000) {
      const volume = `${prefix}${cycles++}`;
      if (!(await call('Create', volume))) {
        createFailed.set(volume, lastErr);
        continue;
      }
      if (await call('Mount', volume, 'c1')) await call('Unmount', volume, 'c1');
      if (await call('Remove', volume)) removed.add(volume);
    }
    const soakMs = Date.now() - started;
    await endpoint.admin('POST', 'faults', {});

    // berth's own background work finishes: detaches it retries, rechecks of held devices.
    await waitFor(
      'berth\'s background detaches to finish (pending-detaches.json empty, no volume attached without a mount record)',
      async () =>
        Object.keys(readState<object>('pending-detaches.json', 'volumes')).length === 0 &&
        (await soakVolumes(prefix)).every((volume) => !volume.attachment || Object.hasOwn(readState<object>('mounts.json', 'mounts'), volume.tags['berth:name'])),
      { timeoutMs: SETTLE_MS },
    );

    const left = await soakVolumes(prefix);
    const summary = [...failures].map(([kind, count]) => `${count}× ${kind}`).join('; ');
    console.log(`soak ${name}: ${cycles} cycles, ${ops} operations in ${(soakMs / 1000).toFixed(1)} s, ${[...failures.values()].reduce((a, b) => a + b, 0)} failed${summary ? ` (${summary})` : ''}`);

    expect(unclear).toEqual([]);
    expect(readState('mounts.json', 'mounts')).toEqual({});
    expect(left.filter((volume) => volume.attachment)).toEqual([]);
    expect(left.filter((volume) => createFailed.has(volume.tags['berth:name'])).map((volume) => `${volume.id} left by a Create that answered: ${createFailed.get(volume.tags['berth:name'])}`)).toEqual([]);
    expect(left.filter((volume) => removed.has(volume.tags['berth:name']))).toEqual([]);
    expect(mountsUnder(daemon.mountRoot)).toEqual([]);

    // What failed Removes left: removed now, with the faults gone, and then nothing of this fault remains.
    for (const volume of new Set(left.map((v) => v.tags['berth:name']))) {
      const reply = await daemon.call('VolumeDriver.Remove', { Name: volume });
      expect(reply.body.Err).toBeFalsy();
    }
    expect(await soakVolumes(prefix)).toEqual([]);
    const state = await endpoint.admin('GET', 'state');
    expect((state.volumes as VolumeRecordView[]).filter((volume) => volume.attachment?.instanceId === instanceId && volume.attachment.loopDevice)).toEqual([]);
    const catalogued = () => Object.keys(readState<object>('volumes.json', 'volumes') ?? {}).filter((known) => known.startsWith(prefix));
    // A Remove that answered Err after EC2 had deleted the volume (5xx after the change) leaves it in berth's cache
    // until the cache's next refresh, which a List makes once it is older than EBS_LISTCACHE (as docker volume ls would).
    await waitFor(
      'volumes.json to forget the removed volumes',
      async () => {
        await daemon.call('VolumeDriver.List', {});
        return catalogued().length === 0;
      },
      { timeoutMs: 15_000, intervalMs: 1_000 },
    );
    expect(fs.existsSync(daemon.mountRoot) ? fs.readdirSync(daemon.mountRoot).filter((entry) => entry.startsWith(prefix)) : []).toEqual([]);
  }, SOAK_SECONDS * 1000 + SETTLE_MS + 60_000);
});
