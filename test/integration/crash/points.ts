/**
 * Where the daemon is killed: before an EC2 call takes effect (it has arrived, held by an injected latency), just
 * after its answer (later EC2 calls held), or while a host tool runs: held before the tool starts, or after it
 * finished but before the daemon saw its answer. Each operation's steps are listed in the order berth takes them.
 */
import { RECENT_DESCRIBE_MS } from '../../../src/cloud/lookups';
import type { GatedTool, GateMoment } from './tool-gates';

export type Operation = 'create' | 'mount-new' | 'mount-again' | 'mount-moved' | 'unmount' | 'detach-retry' | 'remove';

export interface Ec2Step {
  kind: 'ec2';
  action: string;
  /** The first such call once this action was answered (an action berth calls more than once). */
  following?: string;
  when: 'before' | 'after';
  /** A host tool that runs beside the call, held at its start so that the point is exact. */
  holding?: GatedTool;
  /** Idle this long first (berth takes an answer of the last moment for this call). */
  idleFirstMs?: number;
  /** Restart the daemon first (berth caches the answer of this call in memory for longer). */
  freshDaemonFirst?: boolean;
}

export type Step = Ec2Step | { kind: 'tool'; tool: GatedTool; when: GateMoment };

export interface CrashPoint {
  operation: Operation;
  step: Step;
}

type Ec2Call = Omit<Ec2Step, 'kind' | 'when'>;

const STEPS: Record<Operation, Array<Ec2Call | GatedTool>> = {
  create: [{ action: 'DescribeVolumes' }, { action: 'CreateVolume' }, { action: 'DescribeVolumes', following: 'CreateVolume' }],
  'mount-new': [
    // The Create just before answered for the volume: Mount looks it up itself only once that answer is old.
    { action: 'DescribeVolumes', idleFirstMs: RECENT_DESCRIBE_MS + 200 },
    { action: 'DescribeInstances', freshDaemonFirst: true },
    { action: 'AttachVolume' },
    'mkfs.ext4',
    'mount',
    // Removing the unformatted marker runs while the new filesystem is being mounted.
    { action: 'DeleteTags', holding: 'mount' },
  ],
  'mount-again': [{ action: 'AttachVolume' }, 'e2fsck', 'mount'],
  // The move into this zone: snapshot, wait for it, the new volume from it (and its wait), retiring the old one.
  'mount-moved': [
    { action: 'CreateSnapshot' },
    { action: 'DescribeSnapshots' },
    { action: 'CreateVolume' },
    { action: 'DescribeVolumes', following: 'CreateVolume' },
    { action: 'CreateTags' },
    { action: 'DeleteTags' },
  ],
  // The detach ends once the device has left this machine: at zero delay no DescribeVolumes follows.
  unmount: ['umount', { action: 'DetachVolume' }],
  // The background retry of a detach that failed at Unmount.
  'detach-retry': [{ action: 'DetachVolume' }],
  // An answer of the last moment (the Unmount's, had it polled) may stand in for Remove's own look-up: idle past it.
  remove: [{ action: 'DescribeVolumes', idleFirstMs: RECENT_DESCRIBE_MS + 200 }, { action: 'DeleteVolume' }],
};

function stepsOf(step: Ec2Call | GatedTool): Step[] {
  if (typeof step === 'string') return (['start', 'end'] as const).map((when) => ({ kind: 'tool', tool: step, when }));
  return (['before', 'after'] as const).map((when) => ({ kind: 'ec2', ...step, when }));
}

export const CRASH_POINTS: CrashPoint[] = (Object.keys(STEPS) as Operation[]).flatMap((operation) =>
  STEPS[operation].flatMap((step) => stepsOf(step).map((crashAt) => ({ operation, step: crashAt }))),
);

export function describePoint({ operation, step }: CrashPoint): string {
  if (step.kind === 'tool') return `${operation}: ${step.when === 'start' ? 'as' : 'once'} ${step.tool} ${step.when === 'start' ? 'starts' : 'finished'}`;
  return `${operation}: ${step.when} ${step.action}${step.following ? ` (after ${step.following})` : ''}`;
}
