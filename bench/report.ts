/** The table `make bench` prints (Markdown, so the README can show it as it is) and the JSON kept beside it. */
import fs from 'node:fs';
import path from 'node:path';
import type { ActionCounts } from './endpoint-calls';
import { describeCalls, formatCounts } from './endpoint-calls';
import type { CallsPerOperation, ListCalls } from './items/calls';
import type { StartupResult } from './items/daemon';
import type { DelayedResult, EndpointShare, LifecycleResult, RemountResult } from './items/lifecycle';
import type { ProtocolBreakdown } from './context';
import type { ListScaleResult } from './items/list-scale';
import type { ParallelResult } from './items/parallel';
import type { ProtocolResult } from './items/protocol';
import { round, type Summary } from './stats';

export interface PluginFigures {
  enableMs: number;
  idleRssMiB: number;
  rssWithBulkMiB?: number;
  bulkVolumes: number;
  rootfsBytes: number;
  compressedBytes?: number;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  finishedAt?: string;
  durationS?: number;
  commit: string;
  machine: { node: string; cpus: number; loadavgAtStart: number[]; kernel: string };
  runs: number;
  lifecycle?: LifecycleResult;
  remount?: RemountResult;
  protocol?: ProtocolResult;
  calls?: CallsPerOperation;
  list?: ListCalls;
  parallel?: ParallelResult;
  startup?: StartupResult[];
  plugin?: PluginFigures;
  delayed?: DelayedResult;
  listScale?: ListScaleResult;
  rows?: Row[];
  errors: string[];
}

export interface Row {
  item: string;
  measure: string;
  berth: string;
  reference: string;
  result: string;
  target: string;
  /** true/false when there is a target, undefined for figures reported without one. */
  met?: boolean;
}

const ms = (value: number) => `${Math.round(value)} ms`;
const fine = (value: number) => `${round(value, 2)} ms`;
const times = (value: number) => `${round(value, 2)}×`;
const mib = (bytes: number) => `${round(bytes / 1024 / 1024, 1)} MiB`;
const p50p99 = (summary: Summary) => `${fine(summary.p50)} (p99 ${fine(summary.p99)})`;
const count = (counts: ActionCounts, action: string) => counts[action] ?? 0;

export function buildRows(result: BenchResult): Row[] {
  const rows: Row[] = [];
  const { lifecycle, remount, protocol, calls, list, parallel, startup, plugin, delayed, listScale } = result;
  if (lifecycle) {
    rows.push({
      item: '1',
      measure: `lifecycle: volume create + run writing 1 MiB + volume rm, median of ${lifecycle.runs}`,
      berth: ms(lifecycle.berth.totalMs.p50),
      reference: `local ${ms(lifecycle.local.totalMs.p50)}`,
      result: times(lifecycle.ratio),
      target: '≤ 1.3×',
      met: lifecycle.ratio <= 1.3,
    });
  }
  if (lifecycle) rows.push(protocolRow('1', lifecycle.protocolMsPerRun, lifecycle.protocol, lifecycle.endpoint));
  if (remount) {
    rows.push({
      item: '2',
      measure: `re-mount: docker run on a formatted volume, median of ${remount.runs}`,
      berth: ms(remount.berth.p50),
      reference: `local ${ms(remount.local.p50)}`,
      result: times(remount.ratio),
      target: '≤ 1.3×',
      met: remount.ratio <= 1.3,
    });
  }
  if (remount) rows.push(protocolRow('2', remount.protocolMsPerRun, remount.protocol, remount.endpoint));
  if (protocol) {
    for (const method of ['Get', 'Path', 'Capabilities'] as const) {
      const latency = protocol[method];
      rows.push({
        item: '3',
        measure: `${method}${method === 'Get' ? ' (cached)' : ''}, p50 of ${protocol.samples}`,
        berth: p50p99(latency.berth),
        reference: `bare ${p50p99(latency.bare)}`,
        result: times(latency.ratio),
        target: '≤ 1.5×',
        met: latency.ratio <= 1.5,
      });
    }
    rows.push({
      item: '3',
      measure: `List of ${protocol.List.volumes} volumes (${Math.round(protocol.List.bytes / 1024)} KiB), p50 of ${protocol.List.samples}`,
      berth: p50p99(protocol.List.berth),
      reference: '',
      result: fine(protocol.List.berth.p50),
      target: '≤ 20 ms',
      met: protocol.List.berth.p50 <= 20,
    });
  }
  if (calls) {
    const create = calls.create;
    rows.push({
      item: '4',
      measure: 'EC2 calls: docker volume create',
      berth: formatCounts(create),
      reference: '',
      result: `${count(create, 'CreateVolume')} CreateVolume + ${count(create, 'DescribeVolumes')} DescribeVolumes`,
      target: '1 CreateVolume + ≤ 2 DescribeVolumes',
      met: count(create, 'CreateVolume') === 1 && count(create, 'DescribeVolumes') <= 2,
    });
    const mount = calls.firstMount;
    rows.push({
      item: '4',
      measure: 'EC2 calls: first mount (docker run -d, one Mount)',
      berth: formatCounts(mount),
      reference: '',
      result: `${count(mount, 'AttachVolume')} AttachVolume + ${describeCalls(mount)} Describe`,
      target: '1 AttachVolume + ≤ 3 Describe',
      met: count(mount, 'AttachVolume') === 1 && describeCalls(mount) <= 3,
    });
    rows.push({ item: '4', measure: 'EC2 calls: unmount (docker rm -f, one Unmount)', berth: formatCounts(calls.unmount), reference: '', result: '', target: '' });
    rows.push({ item: '4', measure: 'EC2 calls: docker volume rm', berth: formatCounts(calls.remove), reference: '', result: '', target: '' });
    rows.push({
      item: '4',
      measure: 'EC2 calls: docker run --rm on /data, a path the image has (two Mount/Unmount pairs)',
      berth: formatCounts(calls.runOnImagePath),
      reference: '',
      result: '',
      target: '',
    });
  }
  if (list) {
    rows.push({
      item: '4',
      measure: `EC2 calls: docker volume ls, ${list.volumesListed} volumes, cold`,
      berth: formatCounts(list.cold.counts),
      reference: '',
      result: ms(list.cold.ms),
      target: '',
    });
    const warm = Object.values(list.warm.counts).reduce((sum, n) => sum + n, 0);
    rows.push({
      item: '4',
      measure: `EC2 calls: docker volume ls, ${list.volumesListed} volumes, warm`,
      berth: formatCounts(list.warm.counts),
      reference: '',
      result: `${warm} calls, ${ms(list.warm.ms)}`,
      target: '0 calls',
      met: warm === 0,
    });
  }
  if (parallel) {
    const describes = count(parallel.start.counts, 'DescribeVolumes');
    const failures = parallel.start.failures.length;
    rows.push({
      item: '5',
      measure: `${parallel.containers} containers started at once on ${parallel.containers} volumes`,
      berth: `${ms(parallel.start.wallMs)}; ${formatCounts(parallel.start.counts)}`,
      reference: '',
      result: `${describes} DescribeVolumes, ${failures} failed`,
      target: '≤ 8 DescribeVolumes, 0 failed',
      met: describes <= 8 && failures === 0,
    });
    rows.push({
      item: '5',
      measure: `... and removed at once (docker rm -f)`,
      berth: `${ms(parallel.stop.wallMs)}; ${formatCounts(parallel.stop.counts)}`,
      reference: '',
      result: `${parallel.stop.failures.length} failed`,
      target: '',
    });
  }
  for (const variant of startup ?? []) {
    const isPlugin = variant.name === 'plugin bundle';
    rows.push({
      item: '6',
      measure: `start → listening socket, ${variant.name} (${isPlugin ? "plugin's Node" : `Node ${process.versions.node}`}), p50 of ${variant.runs}`,
      berth: `${ms(variant.listeningMs.p50)} (ready ${ms(variant.readyMs.p50)}; first start ${ms(variant.firstStart.listeningMs)})`,
      reference: '',
      result: ms(variant.listeningMs.p50),
      target: isPlugin ? '≤ 300 ms' : '',
      met: isPlugin ? variant.listeningMs.p50 <= 300 : undefined,
    });
    rows.push({
      item: '6',
      measure: `idle RSS, ${variant.name}`,
      berth: `${round(variant.idleRssMiB.p50, 1)} MiB`,
      reference: '',
      result: '',
      target: '',
    });
  }
  if (plugin) {
    rows.push({
      item: '6',
      measure: 'idle RSS, plugin in dockerd after enable',
      berth: `${round(plugin.idleRssMiB, 1)} MiB (enable ${ms(plugin.enableMs)})`,
      reference: '',
      result: `${round(plugin.idleRssMiB, 1)} MiB`,
      target: '≤ 70 MiB',
      met: plugin.idleRssMiB <= 70,
    });
    if (plugin.rssWithBulkMiB !== undefined) {
      rows.push({
        item: '6',
        measure: `RSS, plugin with ${plugin.bulkVolumes} volumes known`,
        berth: `${round(plugin.rssWithBulkMiB, 1)} MiB`,
        reference: '',
        result: '',
        target: '',
      });
    }
    rows.push({
      item: '6',
      measure: 'plugin rootfs size',
      berth: mib(plugin.rootfsBytes),
      reference: '',
      result: mib(plugin.rootfsBytes),
      target: '≤ 120 MiB',
      met: plugin.rootfsBytes <= 120 * 1024 * 1024,
    });
    if (plugin.compressedBytes !== undefined) {
      rows.push({ item: '6', measure: 'plugin rootfs, tar | gzip -6', berth: mib(plugin.compressedBytes), reference: '', result: '', target: '' });
    }
  }
  if (delayed) {
    rows.push({
      item: '7',
      measure: `lifecycle with EC2-like delays (${delayed.delays}), median of ${delayed.runs}`,
      berth: `${ms(delayed.lifecycle.totalMs.p50)}; injected ${ms(delayed.injectedMsPerRun)}; minus injected ${ms(delayed.lifecycleMinusInjectedMs)}`,
      reference: `berth at zero delay ${ms(delayed.zeroDelayLifecycle.totalMs.p50)}`,
      result: `extra wait ${ms(delayed.extraWaitMsPerRun)} = ${Math.round(delayed.extraWaitShare * 100)}% of injected`,
      target: '< 10% of injected',
      met: delayed.extraWaitShare < 0.1,
    });
    rows.push({
      item: '7',
      measure: '... EC2 calls per delayed lifecycle',
      berth: formatCounts(delayed.callsPerRun),
      reference: '',
      result: '',
      target: '',
    });
  }
  if (listScale) rows.push(...listScaleRows(listScale));
  return rows;
}

/** Item 8: List with many volumes in one namespace, berth run directly (legacy mode), as it ships unless told. */
function listScaleRows(scale: ListScaleResult): Row[] {
  const of = `${scale.volumes} volumes`;
  const daemon = scale.daemon ? `${scale.daemon.form}, Node.js ${scale.daemon.node}` : 'dist';
  const block = scale.longestBlockMs;
  return [
    {
      item: '8',
      measure: `List of ${of} (${Math.round(scale.listBytes / 1024)} KiB), cold: first List after start`,
      berth: ms(scale.coldMs),
      reference: '',
      result: ms(scale.coldMs),
      target: '≤ 2 s',
      met: scale.coldMs <= 2000,
    },
    {
      item: '8',
      measure: `List of ${of}, warm (from berth's cache), p50 of ${scale.warm.n}`,
      berth: p50p99(scale.warm),
      reference: '',
      result: fine(scale.warm.p50),
      target: '≤ 50 ms',
      met: scale.warm.p50 <= 50,
    },
    {
      item: '8',
      measure: `RSS of the daemon (${daemon}) with ${of} known (highest seen while its listing was refreshed)`,
      berth: `${round(scale.rssMiB, 1)} MiB (after the cold List ${round(scale.rssAfterColdMiB, 1)} MiB)`,
      reference: '',
      result: `${round(scale.rssMiB, 1)} MiB`,
      target: '≤ 160 MiB',
      met: scale.rssMiB <= 160,
    },
    {
      item: '8',
      measure: `longest event-loop block during ${scale.refreshes.length} background refreshes (berth's monitorEventLoopDelay)`,
      berth: block === undefined ? 'not logged' : `${fine(block)}; Capabilities meanwhile max ${fine(scale.probe.maxMs)} (p99 ${fine(scale.probe.p99Ms)}, ${scale.probe.calls} calls)`,
      reference: '',
      result: block === undefined ? '' : fine(block),
      target: '≤ 20 ms',
      met: block === undefined ? false : block <= 20,
    },
    {
      item: '8',
      measure: `... refreshes after one volume changed (volumes.json written again)`,
      berth: scale.changedRefreshes.map((refresh) => fine(refresh.eventLoopMaxDelayMs)).join(', ') || 'not logged',
      reference: '',
      result: scale.changedRefreshes.length > 0 ? fine(Math.max(...scale.changedRefreshes.map((refresh) => refresh.eventLoopMaxDelayMs))) : '',
      target: '≤ 20 ms',
      met: scale.changedRefreshes.length > 0 ? scale.changedRefreshes.every((refresh) => refresh.eventLoopMaxDelayMs <= 20) : false,
    },
  ];
}

/** Where berth's time went per run: its protocol calls (from its log) and the endpoint's share of them. */
function protocolRow(item: string, msPerRun: number, protocol: ProtocolBreakdown, endpoint: EndpointShare): Row {
  const methods = Object.entries(protocol)
    .filter(([method]) => method !== 'Get' && method !== 'Capabilities' && method !== 'Path')
    .map(([method, entry]) => `${entry.perRun === 1 ? '' : `${entry.perRun}× `}${method} ${Math.round(entry.durationMs.p50)}`)
    .join(', ');
  return {
    item,
    measure: '... berth per run: protocol calls (median ms each), of which the EC2 endpoint answering',
    berth: `${ms(msPerRun)}: ${methods}`,
    reference: '',
    result: `EC2 ${ms(endpoint.msPerRun)} (${Object.values(endpoint.callsPerRun).reduce((sum, n) => sum + n, 0)} calls)`,
    target: '',
  };
}

export function renderTable(rows: Row[]): string {
  const header = ['#', 'measure', 'berth', 'reference', 'result', 'target', 'met'];
  const cells = rows.map((row) => [row.item, row.measure, row.berth, row.reference, row.result, row.target, row.met === undefined ? '' : row.met ? 'yes' : 'NO']);
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const lines = [header, header.map(() => '---'), ...cells].map((line) => `| ${line.map(escape).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** Writes results/<timestamp>.json, results/latest.json and results/latest.md (the table and how it was made). */
export function writeResults(dir: string, result: BenchResult, table: string): { json: string; latest: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = result.startedAt.replace(/[:.]/g, '-');
  const json = path.join(dir, `${stamp}.json`);
  const text = `${JSON.stringify(result, null, 1)}\n`;
  fs.writeFileSync(json, text);
  const latest = path.join(dir, 'latest.json');
  fs.writeFileSync(latest, text);
  const markdown = path.join(dir, 'latest.md');
  const header = [
    `berth benchmarks, ${result.startedAt} (commit ${result.commit}), ${result.runs} runs per variant, ` +
      `Node ${result.machine.node}, ${result.machine.cpus} CPUs, load ${result.machine.loadavgAtStart.map((n) => n.toFixed(1)).join(' ')} at start, ` +
      `${result.durationS ?? '?'} s in all.`,
    '',
  ].join('\n');
  fs.writeFileSync(markdown, `${header}\n${table}`);
  return { json, latest, markdown };
}
