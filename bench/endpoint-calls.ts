/** The local EC2 endpoint's call log (`/_berth/calls`): what berth asked EC2, counted where EC2 would count it. */
import type { LocalEc2 } from '../test/support/local-ec2';
import { waitFor } from '../test/support/poll';

export interface EndpointCall {
  seq: number;
  action: string;
  volumeId?: string;
  result: string;
  durationMs: number;
}

export async function callsSince(ec2: LocalEc2, since: number): Promise<EndpointCall[]> {
  return (await ec2.admin('GET', `calls?since=${since}`)) as EndpointCall[];
}

/** The sequence number of the last call so far (0 when none). */
export async function lastCall(ec2: LocalEc2): Promise<number> {
  const calls = await callsSince(ec2, 0);
  return calls.length > 0 ? calls[calls.length - 1].seq : 0;
}

export type ActionCounts = Record<string, number>;

export function countByAction(calls: EndpointCall[]): ActionCounts {
  const counts: ActionCounts = {};
  for (const call of calls) counts[call.action] = (counts[call.action] ?? 0) + 1;
  return counts;
}

/** Describe* calls (DescribeVolumes, DescribeInstances, ...). */
export function describeCalls(counts: ActionCounts): number {
  return Object.entries(counts)
    .filter(([action]) => action.startsWith('Describe'))
    .reduce((sum, [, count]) => sum + count, 0);
}

/** Runs `work` and returns the endpoint calls made meanwhile. */
export async function countCalls<T>(ec2: LocalEc2, work: () => Promise<T>): Promise<{ value: T; calls: EndpointCall[]; counts: ActionCounts }> {
  const before = await lastCall(ec2);
  const value = await work();
  const calls = await callsSince(ec2, before);
  return { value, calls, counts: countByAction(calls) };
}

export function formatCounts(counts: ActionCounts): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length > 0 ? entries.map(([action, count]) => `${action} ${count}`).join(', ') : 'none';
}

/**
 * Resolves once no volume named `name` (berth:name) is attached: berth keeps a briefly used volume attached for its
 * release delay, and the detach then belongs to the operation that ended the use.
 */
export async function untilDetached(ec2: LocalEc2, name: string, timeoutMs = 30_000): Promise<void> {
  const detached = async () => {
    const { volumes } = (await ec2.admin('GET', 'state')) as { volumes: Array<{ tags: Record<string, string>; attachment?: unknown }> };
    return !volumes.some((volume) => volume.tags['berth:name'] === name && volume.attachment);
  };
  await waitFor(`${name} to be detached`, detached, { timeoutMs, intervalMs: 100 });
}
