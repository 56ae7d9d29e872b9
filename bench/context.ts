/** What every benchmark item gets: the private dockerd, the endpoint and the plugin, and a progress line. */
import type { Dockerd } from '../test/support/dockerd';
import type { Endpoint, Plugin, PluginCall } from './stage';
import { round, summarise, type Summary } from './stats';

export interface BenchContext {
  dockerd: Dockerd;
  endpoint: Endpoint;
  plugin: Plugin;
  /** Samples per variant for the alternated comparisons. */
  runs: number;
  progress(line: string): void;
}

/** Per protocol method: calls per unit of work and the time berth spent in them (from berth's own log). */
export type ProtocolBreakdown = Record<string, { perRun: number; durationMs: Summary }>;

export function protocolBreakdown(calls: PluginCall[], runs: number): ProtocolBreakdown {
  const byMethod = new Map<string, number[]>();
  for (const call of calls) {
    const method = call.method.replace(/^VolumeDriver\./, '');
    byMethod.set(method, [...(byMethod.get(method) ?? []), call.durationMs]);
  }
  const breakdown: ProtocolBreakdown = {};
  for (const [method, durations] of [...byMethod].sort(([a], [b]) => a.localeCompare(b))) {
    breakdown[method] = { perRun: round(durations.length / runs, 2), durationMs: summarise(durations) };
  }
  return breakdown;
}

/** Time berth spent answering Docker per unit of work: the sum over methods of calls x median duration. */
export function protocolTimePerRun(breakdown: ProtocolBreakdown): number {
  return round(Object.values(breakdown).reduce((sum, entry) => sum + entry.perRun * entry.durationMs.p50, 0), 1);
}
