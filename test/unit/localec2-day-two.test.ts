/**
 * local-ec2's pure rules for berth's day-two commands: repeated volume modifications (the previous one must be
 * completed, at most four in a rolling 24 hours), modification and snapshot progress from the elapsed time, and
 * the "deny" and "imdsClientHops" faults' validation.
 */
import {
  MODIFICATION_WINDOW_MS,
  checkModificationAllowed,
  recordModificationStart,
} from '../../src/localec2/actions/modification-limits';
import { ACTIONS } from '../../src/localec2/actions';
import { Ec2Error } from '../../src/localec2/ec2-error';
import { Faults, parseFaultSpec } from '../../src/localec2/faults';
import { OPTIMIZING_DELAYS, modificationProgress, snapshotProgress } from '../../src/localec2/progress';
import type { ModificationRecord, SnapshotRecord, VolumeRecord } from '../../src/localec2/state';

const HOUR = 3600 * 1000;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function volume(): VolumeRecord {
  return { id: 'vol-0123456789abcdef0', sizeGiB: 1, volumeType: 'gp3', encrypted: false, availabilityZone: 'us-east-1a', lifecycle: 'available', createTime: iso(T0), tags: {} };
}

function modification(state: ModificationRecord['state'], startTime = T0): ModificationRecord {
  return { volumeId: 'vol-0123456789abcdef0', state, originalSize: 1, originalVolumeType: 'gp3', targetSize: 2, targetVolumeType: 'gp3', progress: 0, startTime: iso(startTime) };
}

function refusal(run: () => void): Ec2Error {
  try {
    run();
  } catch (err) {
    if (err instanceof Ec2Error) return err;
    throw err;
  }
  throw new Error('expected an Ec2Error');
}

describe('ModifyVolume: repeated modifications', () => {
  it('refuses a new modification while the latest is modifying or optimizing, allows it once completed or failed', () => {
    const vol = volume();
    for (const state of ['modifying', 'optimizing'] as const) {
      expect(refusal(() => checkModificationAllowed(vol, modification(state), T0))).toMatchObject({
        code: 'IncorrectModificationState',
        message: `Volume ${vol.id} cannot be modified in modification state ${state.toUpperCase()}`,
      });
    }
    expect(() => checkModificationAllowed(vol, modification('completed'), T0)).not.toThrow();
    expect(() => checkModificationAllowed(vol, modification('failed'), T0)).not.toThrow();
    expect(() => checkModificationAllowed(vol, undefined, T0)).not.toThrow();
  });

  it('allows four in a rolling 24 hours; the fifth is refused, naming when the next is allowed', () => {
    const vol = volume();
    const starts = [T0, T0 + 1 * HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR];
    for (const start of starts) {
      checkModificationAllowed(vol, modification('completed'), start);
      recordModificationStart(vol, iso(start), start);
    }
    const fifth = refusal(() => checkModificationAllowed(vol, modification('completed'), T0 + 4 * HOUR));
    expect(fifth.code).toBe('VolumeModificationRateExceeded');
    expect(fifth.status).toBe(400);
    expect(fifth.message).toContain("You've reached the maximum modification rate per volume limit.");
    expect(fifth.message).toContain(`after ${iso(T0 + MODIFICATION_WINDOW_MS)}`);
    // Still refused just before the first leaves the window, allowed just after; then the second bounds it.
    expect(refusal(() => checkModificationAllowed(vol, undefined, T0 + MODIFICATION_WINDOW_MS - 1)).code).toBe('VolumeModificationRateExceeded');
    const later = T0 + MODIFICATION_WINDOW_MS + 1;
    checkModificationAllowed(vol, undefined, later);
    recordModificationStart(vol, iso(later), later);
    expect(vol.modificationStarts).toEqual([iso(T0 + HOUR), iso(T0 + 2 * HOUR), iso(T0 + 3 * HOUR), iso(later)]);
    expect(refusal(() => checkModificationAllowed(vol, undefined, later + 1)).message).toContain(`after ${iso(T0 + HOUR + MODIFICATION_WINDOW_MS)}`);
  });
});

describe('progress from the elapsed time', () => {
  const DELAY = 1000;
  const total = DELAY * (1 + OPTIMIZING_DELAYS);

  it('a modification rises through modifying and optimizing, and is 100 only when completed', () => {
    const modifying = modification('modifying');
    const optimizing = modification('optimizing');
    expect(modificationProgress(modifying, DELAY, T0)).toBe(0);
    expect(modificationProgress(modifying, DELAY, T0 + DELAY / 2)).toBe(Math.floor((DELAY / 2 / total) * 100));
    const boundary = modificationProgress(modifying, DELAY, T0 + DELAY);
    expect(modificationProgress(modifying, DELAY, T0 + 10 * DELAY)).toBe(boundary);
    expect(modificationProgress(optimizing, DELAY, T0 + DELAY)).toBe(boundary);
    const samples = [1.5, 2, 3, 3.9].map((delays) => modificationProgress(optimizing, DELAY, T0 + delays * DELAY));
    expect(samples).toEqual([...samples].sort((a, b) => a - b));
    expect(new Set(samples).size).toBe(samples.length);
    expect(samples[0]).toBeGreaterThan(boundary);
    expect(modificationProgress(optimizing, DELAY, T0 + 100 * DELAY)).toBe(99);
    expect(modificationProgress(modification('completed'), DELAY, T0)).toBe(100);
    expect(modificationProgress(modification('modifying'), 0, T0 + 5)).toBe(0);
  });

  it('a pending snapshot shows NN% of its delay, at most 99%; completed 100%', () => {
    const snapshot: SnapshotRecord = { id: 'snap-0123456789abcdef0', volumeId: 'vol-0123456789abcdef0', volumeSizeGiB: 1, description: '', state: 'pending', region: 'us-east-1', startTime: iso(T0), encrypted: false, tags: {} };
    expect(snapshotProgress(snapshot, DELAY, T0)).toBe('0%');
    expect(snapshotProgress(snapshot, DELAY, T0 + 420)).toBe('42%');
    expect(snapshotProgress(snapshot, DELAY, T0 + 5 * DELAY)).toBe('99%');
    expect(snapshotProgress(snapshot, 0, T0 + 5)).toBe('0%');
    expect(snapshotProgress({ ...snapshot, state: 'completed' }, DELAY, T0)).toBe('100%');
  });
});

describe('the deny and imdsClientHops faults', () => {
  const actions = Object.keys(ACTIONS);

  it('takes a list of the actions the endpoint serves, and refuses others with the list of allowed ones', () => {
    expect(parseFaultSpec({ deny: ['ModifyVolume', 'CreateSnapshot'] }, actions)).toEqual({ deny: ['ModifyVolume', 'CreateSnapshot'] });
    expect(() => parseFaultSpec({ deny: ['ModifyVolume', 'RunInstances'] }, actions)).toThrow(/deny: unknown action "RunInstances" \(allowed: CreateVolume, .*StopInstances.*\)/);
    expect(() => parseFaultSpec({ deny: 'ModifyVolume' }, actions)).toThrow(/deny must be a list of action names/);
    const faults = new Faults();
    faults.set(parseFaultSpec({ deny: ['ModifyVolume'] }, actions));
    expect(faults.denies('ModifyVolume')).toBe(true);
    expect(faults.denies('DescribeVolumes')).toBe(false);
  });

  it('takes a whole number of hops from 1 to 255, default 1', () => {
    const faults = new Faults();
    expect(faults.imdsClientHops()).toBe(1);
    faults.set(parseFaultSpec({ imdsClientHops: 2 }, actions));
    expect(faults.imdsClientHops()).toBe(2);
    expect(() => parseFaultSpec({ imdsClientHops: 0 }, actions)).toThrow(/imdsClientHops must be a number from 1 to 255/);
    expect(() => parseFaultSpec({ imdsClientHops: 1.5 }, actions)).toThrow(/whole number/);
  });
});
