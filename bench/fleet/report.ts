/** What a fleet run measured: operations per second, latency per kind, EC2 calls per operation, throttling, failures. */
import { round, summarise } from '../stats';
import { countByAction, formatCounts, type EndpointCall } from '../endpoint-calls';
import type { Operation, OperationKind } from './workload';

export interface KindFigures {
  count: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  /** p99 / p50: how far the slowest hosts fall behind (the target is within 3x, reported, not asserted). */
  spread: number;
}

export interface FleetFigures {
  label: string;
  instances: number;
  seconds: number;
  operations: number;
  failed: number;
  operationsPerSecond: number;
  byKind: Partial<Record<OperationKind, KindFigures>>;
  ec2Calls: number;
  ec2CallsPerOperation: number;
  ec2CallsPerOperationByAction: Record<string, number>;
  throttledCalls: number;
  throttledByAction: Record<string, number>;
  /** Every failed operation, with the Err a user would see. */
  failures: string[];
  leftBehind: string[];
}

export function figures(label: string, instances: number, seconds: number, operations: Operation[], calls: EndpointCall[], leftBehind: string[]): FleetFigures {
  const timed = operations.filter((op) => !op.drain);
  const failed = operations.filter((op) => op.error);
  const byKind: FleetFigures['byKind'] = {};
  for (const kind of ['create', 'mount', 'unmount', 'move', 'remove'] as OperationKind[]) {
    const ofKind = timed.filter((op) => op.kind === kind);
    if (ofKind.length === 0) continue;
    const durations = summarise(ofKind.map((op) => op.durationMs));
    byKind[kind] = {
      count: ofKind.length,
      failed: ofKind.filter((op) => op.error).length,
      p50Ms: Math.round(durations.p50),
      p99Ms: Math.round(durations.p99),
      spread: durations.p50 > 0 ? round(durations.p99 / durations.p50) : 0,
    };
  }
  const perAction = countByAction(calls);
  const throttled = calls.filter((call) => call.result === 'RequestLimitExceeded');
  const count = Math.max(1, operations.length);
  return {
    label,
    instances,
    seconds: round(seconds, 1),
    operations: operations.length,
    failed: failed.length,
    operationsPerSecond: round(timed.length / Math.max(1, seconds)),
    byKind,
    ec2Calls: calls.length,
    ec2CallsPerOperation: round(calls.length / count),
    ec2CallsPerOperationByAction: Object.fromEntries(
      Object.entries(perAction)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([action, n]) => [action, round(n / count)]),
    ),
    throttledCalls: throttled.length,
    throttledByAction: countByAction(throttled),
    failures: failed.map((op) => `${op.kind} ${op.volume} on ${op.where}${op.drain ? ' (drain)' : ''}: ${op.error}`),
    leftBehind,
  };
}

export function formatFigures(run: FleetFigures): string {
  const lines = [
    `fleet "${run.label}": ${run.instances} instances, ${run.seconds} s, ${run.operationsPerSecond} operations/s`,
    ...Object.entries(run.byKind).map(
      ([kind, k]) => `  ${kind.padEnd(8)} ${String(k.count).padStart(4)} done, ${String(k.failed).padStart(3)} failed, p50 ${k.p50Ms} ms, p99 ${k.p99Ms} ms (p99/p50 ${k.spread})`,
    ),
    `  EC2 calls: ${run.ec2Calls} (${run.ec2CallsPerOperation} per operation), throttled ${run.throttledCalls} (${formatCounts(run.throttledByAction)})`,
    `  EC2 calls per operation by action: ${Object.entries(run.ec2CallsPerOperationByAction).map(([action, n]) => `${action} ${n}`).join(', ')}`,
  ];
  if (run.failures.length > 0) lines.push(`  failed operations (what the user saw):`, ...run.failures.slice(0, 30).map((failure) => `    ${failure}`));
  if (run.failures.length > 30) lines.push(`    ... and ${run.failures.length - 30} more`);
  if (run.leftBehind.length > 0) lines.push(`  LEFT BEHIND: ${run.leftBehind.join('; ')}`);
  lines.push(`${run.operations} operations, ${run.failed} failed`);
  return lines.join('\n');
}

/** Two runs side by side (e.g. the commit before a change and after it). */
export function formatSideBySide(runs: FleetFigures[]): string {
  const row = (measure: string, value: (run: FleetFigures) => string) => `| ${measure} | ${runs.map(value).join(' | ')} |`;
  const kinds = [...new Set(runs.flatMap((run) => Object.keys(run.byKind)))] as OperationKind[];
  return [
    `| measure | ${runs.map((run) => run.label).join(' | ')} |`,
    `| --- | ${runs.map(() => '---').join(' | ')} |`,
    row('operations (failed)', (run) => `${run.operations} (${run.failed})`),
    row('operations/s', (run) => String(run.operationsPerSecond)),
    ...kinds.map((kind) => row(`${kind} p50 / p99 ms`, (run) => (run.byKind[kind] ? `${run.byKind[kind]!.p50Ms} / ${run.byKind[kind]!.p99Ms}` : '-'))),
    row('EC2 calls per operation', (run) => String(run.ec2CallsPerOperation)),
    row('DescribeVolumes per operation', (run) => String(run.ec2CallsPerOperationByAction.DescribeVolumes ?? 0)),
    row('throttled calls', (run) => String(run.throttledCalls)),
    row('left behind', (run) => (run.leftBehind.length === 0 ? 'nothing' : run.leftBehind.join('; '))),
  ].join('\n');
}
