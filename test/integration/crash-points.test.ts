/**
 * Crash points: the daemon is SIGKILLed at each step of Create, Mount (also one that moves the volume here from
 * another zone), Unmount, the background retry of a failed detach, and Remove — before and after each EC2 call, and
 * while mkfs, e2fsck, mount and umount run — then restarted on the same state directories; the user's call is
 * retried (or berth's own background work awaited) and the volume checked (see crash/scenario.ts). Every point runs
 * once; BERTH_CRASH_ROUNDS=N adds N rounds at points drawn at random (BERTH_CRASH_SEED makes the draw repeatable).
 *
 * A crash kills the daemon's children too (crash/tool-gates.ts killHeld): berth runs as a Docker plugin, the first
 * process of its container, and the kernel kills the rest of a PID namespace when its first process dies.
 */
import { CRASH_POINTS, describePoint, type CrashPoint } from './crash/points';
import { CrashRig } from './crash/rig';
import { runPoint } from './crash/scenario';
import { describeAsRoot } from '../support/privileges';

/** Points where a defect is known: each is run with it.failing, and turns into a normal test once fixed. */
const KNOWN_DEFECTS: Record<string, string> = {};

const ROUNDS = Number(process.env.BERTH_CRASH_ROUNDS ?? '0');

function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describeAsRoot('crash points: SIGKILL at every step, restart on the same state', () => {
  const rig = new CrashRig();
  let counter = 0;

  beforeAll(() => rig.start(), 60_000);
  afterAll(() => rig.destroy(), 60_000);

  async function round(point: CrashPoint): Promise<void> {
    const started = Date.now();
    const label = describePoint(point);
    let outcome = 'ok';
    try {
      const result = await runPoint(rig, point, `crash-${++counter}`);
      outcome = `ok (${result.volumeId}, formatted ${result.formats}x${result.abandonedFormats ? `, ${result.abandonedFormats} mkfs abandoned` : ''})`;
    } catch (err) {
      outcome = `FAILED: ${(err as Error).message.split('\n')[0]}`;
      if (process.env.BERTH_TEST_DEBUG) process.stderr.write(rig.logTail(80));
      throw err;
    } finally {
      process.stdout.write(`crash point  ${label.padEnd(56)} ${((Date.now() - started) / 1000).toFixed(1)}s  ${outcome}\n`);
    }
  }

  for (const point of CRASH_POINTS) {
    const label = describePoint(point);
    const defect = KNOWN_DEFECTS[label];
    (defect ? it.failing : it)(defect ? `${label} (known defect: ${defect})` : label, () => round(point), 60_000);
  }

  if (ROUNDS > 0) {
    const seed = Number(process.env.BERTH_CRASH_SEED ?? Date.now() % 1_000_000);
    it(`${ROUNDS} rounds at random points (BERTH_CRASH_SEED=${seed})`, async () => {
      const random = seededRandom(seed);
      const healthy = CRASH_POINTS.filter((point) => !KNOWN_DEFECTS[describePoint(point)]);
      for (let i = 0; i < ROUNDS; i++) await round(healthy[Math.floor(random() * healthy.length)]);
    }, ROUNDS * 60_000);
  }
});
