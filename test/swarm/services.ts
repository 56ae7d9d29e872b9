/**
 * Swarm services for the tests: a one-replica busybox writer on a berth volume (classic, or a cluster volume of
 * berth/ebs-csi), its tasks as the manager sees them, and what its tasks wrote.
 *
 * The writer appends `<node> <task> <n> <time>` to /data/journal and fsyncs it, 5 times a second; after each
 * attempt it appends `ok <n> <time>` or `fail <n> <time>` to /status/<task id>, a directory of the host bound into
 * every task (readable whatever becomes of the node's dockerd). So the tests know every write that was made
 * durable, by which task and when, and every write that failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Swarm } from './cluster';
import { IMAGE, PLUGIN } from './cluster';
import type { SwarmNode } from './node';
import { waitFor } from '../support/poll';

const WRITER = [
  "trap 'exit 0' TERM INT",
  'log=/status/$TASK',
  'echo "start $NODE $EPOCHREALTIME" >> $log',
  'n=0',
  'while :; do',
  '  n=$((n+1))',
  '  if echo "$NODE $TASK $n $EPOCHREALTIME" >> /data/journal && sync /data/journal; then',
  '    echo "ok $n $EPOCHREALTIME" >> $log',
  '  else',
  '    echo "fail $n $EPOCHREALTIME" >> $log',
  '  fi',
  '  sleep 0.2',
  'done',
].join('\n');

export interface WriterService {
  name: string;
  volume: string;
  statusDir: string;
}

export interface ServiceOptions {
  name: string;
  volume: string;
  /** placement constraints, e.g. node.labels.berth.az==us-east-1a */
  constraints: string[];
  /** -o options for the volume when the first task creates it (volume-opt=KEY=VALUE); classic volumes only */
  volumeOptions?: Record<string, string>;
  /** A Swarm cluster volume made beforehand (csi.ts): mounted with type=cluster, which takes no driver or options. */
  cluster?: boolean;
  /** Whether Swarm replaces a task that ended (default any: always). */
  restartCondition?: 'any' | 'none';
}

/** Creates the writer service (detached: the caller waits for what it expects). */
export async function createWriter(swarm: Swarm, options: ServiceOptions): Promise<WriterService> {
  const statusDir = path.join(swarm.baseDir, 'status', options.name);
  fs.mkdirSync(statusDir, { recursive: true });
  const volumeMount = options.cluster
    ? [`type=cluster`, `source=${options.volume}`, `target=/data`]
    : [`type=volume`, `source=${options.volume}`, `target=/data`, `volume-driver=${PLUGIN}`];
  if (options.cluster && options.volumeOptions) throw new Error(`${options.name}: a cluster volume takes its options at docker volume create`);
  for (const [key, value] of Object.entries(options.volumeOptions ?? {})) volumeMount.push(`volume-opt=${key}=${value}`);
  const args = [
    'service', 'create', '--detach', '--name', options.name,
    '--replicas', '1',
    '--no-resolve-image',
    '--stop-grace-period', '3s',
    '--restart-delay', '0s',
    '--restart-condition', options.restartCondition ?? 'any',
    '--update-delay', '0s',
    '--env', 'NODE={{.Node.Hostname}}',
    '--env', 'TASK={{.Task.ID}}',
    '--mount', volumeMount.join(','),
    '--mount', `type=bind,source=${statusDir},target=/status`,
    ...options.constraints.flatMap((constraint) => ['--constraint', constraint]),
    IMAGE, 'sh', '-c', WRITER,
  ];
  await swarm.manager.dockerOk(args);
  return { name: options.name, volume: options.volume, statusDir };
}

export interface Task {
  id: string;
  node: string;
  desired: string;
  state: string;
  error: string;
  message: string;
  /** when the task reached its current state (manager's clock: this machine's) */
  since: number;
  containerId?: string;
}

interface RawTask {
  ID: string;
  NodeID?: string;
  DesiredState: string;
  CreatedAt: string;
  Status: { Timestamp: string; State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string } };
}

const nodeNames = new WeakMap<Swarm, Map<string, string>>();

async function hostnameOf(swarm: Swarm, nodeId: string | undefined): Promise<string> {
  if (!nodeId) return '';
  let names = nodeNames.get(swarm);
  if (!names?.has(nodeId)) {
    const out = await swarm.manager.dockerOk(['node', 'ls', '--format', '{{.ID}} {{.Hostname}}']);
    names = new Map(out.trim().split('\n').map((line) => line.split(' ') as [string, string]));
    nodeNames.set(swarm, names);
  }
  return names.get(nodeId) ?? nodeId;
}

/** Every task of the service the manager still remembers, oldest first. */
export async function tasksOf(swarm: Swarm, service: string): Promise<Task[]> {
  const ids = (await swarm.manager.dockerOk(['service', 'ps', '--quiet', '--no-trunc', service])).split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const raw = JSON.parse(await swarm.manager.dockerOk(['inspect', '--type', 'task', ...ids])) as RawTask[];
  const tasks: Task[] = [];
  for (const task of raw.sort((a, b) => Date.parse(a.CreatedAt) - Date.parse(b.CreatedAt))) {
    tasks.push({
      id: task.ID,
      node: await hostnameOf(swarm, task.NodeID),
      desired: task.DesiredState,
      state: task.Status.State,
      error: task.Status.Err ?? '',
      message: task.Status.Message ?? '',
      since: Date.parse(task.Status.Timestamp),
      containerId: task.Status.ContainerStatus?.ContainerID || undefined,
    });
  }
  return tasks;
}

/** Polls the service's tasks until `pick` returns one; throws with the task list after the bound. */
export async function waitForTask(
  swarm: Swarm,
  service: string,
  pick: (tasks: Task[]) => Task | undefined,
  what: string,
  timeoutMs: number,
): Promise<Task> {
  let tasks: Task[] = [];
  const picked = async () => pick((tasks = await tasksOf(swarm, service)));
  return waitFor(`a task of ${service} ${what}`, picked, { timeoutMs, retryErrors: true }).catch((err: Error) => {
    const listing = tasks.map((task) => `${task.id.slice(0, 10)} ${task.node} desired=${task.desired} state=${task.state} ${task.error}`).join('\n');
    throw new Error(`${service}: ${err.message}; tasks:\n${listing}`);
  });
}

export function runningOn(node?: string, except: string[] = []) {
  return (tasks: Task[]) =>
    tasks.find((task) => task.state === 'running' && task.desired === 'running' && (!node || task.node === node) && !except.includes(task.id));
}

export async function removeService(swarm: Swarm, service: string): Promise<void> {
  await swarm.manager.docker(['service', 'rm', service]);
}

/** One attempt of the writer, as its status file tells it. */
export interface WriteAttempt {
  ok: boolean;
  n: number;
  time: number;
}

export interface TaskStatus {
  task: string;
  node: string;
  started: number;
  attempts: WriteAttempt[];
}

/** What every task of the service reported (status files), by task id. */
export function taskStatuses(service: WriterService): Map<string, TaskStatus> {
  const statuses = new Map<string, TaskStatus>();
  for (const task of fs.readdirSync(service.statusDir)) {
    const lines = fs.readFileSync(path.join(service.statusDir, task), 'utf8').split('\n').filter(Boolean);
    const [, node, started] = (lines.shift() ?? '').split(' ');
    const attempts = lines
      .map((line) => line.split(' '))
      .filter((fields) => fields.length === 3 && (fields[0] === 'ok' || fields[0] === 'fail'))
      .map(([result, n, time]) => ({ ok: result === 'ok', n: Number(n), time: Number(time) * 1000 }));
    statuses.set(task, { task, node, started: Number(started) * 1000, attempts });
  }
  return statuses;
}

export interface JournalLine {
  node: string;
  task: string;
  n: number;
  time: number;
}

export function parseJournal(text: string): JournalLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [node, task, n, time] = line.split(' ');
      return { node, task, n: Number(n), time: Number(time) * 1000 };
    });
}

/** The journal as the task's container sees it. */
export async function readJournal(node: SwarmNode, containerId: string): Promise<JournalLine[]> {
  return parseJournal(await node.dockerOk(['exec', containerId, 'cat', '/data/journal']));
}

/** A journal as read at `readAt` (when the read began: every write reported durable before then must be in it). */
export interface JournalRead {
  journal: JournalLine[];
  readAt: number;
}

/** Waits until the running task's journal has at least `count` lines written by that task. */
export async function waitForWrites(node: SwarmNode, task: Task, count: number, timeoutMs = 30_000): Promise<JournalRead> {
  const enough = async (): Promise<JournalRead | undefined> => {
    const readAt = Date.now();
    const journal = await readJournal(node, task.containerId!).catch(() => [] as JournalLine[]);
    return journal.filter((line) => line.task === task.id).length >= count ? { journal, readAt } : undefined;
  };
  return waitFor(`${node.id}: task ${task.id} to write ${count} journal lines`, enough, { timeoutMs });
}

/**
 * Checks what a user of the volume would check after the moves:
 * - tasks follow one another: each task's lines form one run, never resumed once another task's lines begin;
 * - within a run, n counts up (no write lost in the middle);
 * - every write a task made durable (fsync returned) is there;
 * - no two tasks ever made writes durable at overlapping times (never two writers on one filesystem).
 * Writes reported after `readAt` (when the journal was read) are not looked for. Returns problems (empty when all hold).
 */
export function checkHistory(journal: JournalLine[], statuses: Map<string, TaskStatus>, readAt = Infinity): string[] {
  const problems: string[] = [];
  const runs: Array<{ task: string; lines: JournalLine[] }> = [];
  for (const line of journal) {
    const last = runs[runs.length - 1];
    if (last && last.task === line.task) last.lines.push(line);
    else runs.push({ task: line.task, lines: [line] });
  }
  const seen = new Set<string>();
  for (const run of runs) {
    if (seen.has(run.task)) problems.push(`task ${run.task} wrote again after another task had written`);
    seen.add(run.task);
    run.lines.forEach((line, index) => {
      if (index > 0 && line.n !== run.lines[index - 1].n + 1) problems.push(`task ${run.task}: line ${line.n} follows ${run.lines[index - 1].n}`);
    });
  }
  for (const status of statuses.values()) {
    const inJournal = new Set(journal.filter((line) => line.task === status.task).map((line) => line.n));
    const lost = status.attempts.filter((attempt) => attempt.ok && attempt.time < readAt && !inJournal.has(attempt.n)).map((attempt) => attempt.n);
    if (lost.length > 0) problems.push(`task ${status.task} on ${status.node}: fsync'd writes missing from the journal: ${lost.slice(0, 10).join(', ')}`);
  }
  const durable = [...statuses.values()]
    .map((status) => {
      const ok = status.attempts.filter((attempt) => attempt.ok);
      return ok.length > 0 ? { status, first: ok[0].time, last: ok[ok.length - 1].time } : undefined;
    })
    .filter((span): span is { status: TaskStatus; first: number; last: number } => span !== undefined)
    .sort((a, b) => a.first - b.first);
  for (let index = 1; index < durable.length; index++) {
    const before = durable[index - 1];
    const after = durable[index];
    if (after.first <= before.last) {
      problems.push(
        `two writers at once: task ${before.status.task} on ${before.status.node} (last durable write ${new Date(before.last).toISOString()}) and ` +
          `task ${after.status.task} on ${after.status.node} (first durable write ${new Date(after.first).toISOString()})`,
      );
    }
  }
  return problems;
}

/** A readable account of who wrote what, for failure messages. */
export function describeHistory(journal: JournalLine[], statuses: Map<string, TaskStatus>): string {
  const iso = (time: number) => new Date(time).toISOString().slice(11, 23);
  const lines: string[] = ['journal runs:'];
  let run: JournalLine[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const [first, last] = [run[0], run[run.length - 1]];
    lines.push(`  ${first.node} ${first.task.slice(0, 10)} n=${first.n}..${last.n} ${iso(first.time)}..${iso(last.time)}`);
    run = [];
  };
  for (const line of journal) {
    if (run.length > 0 && run[0].task !== line.task) flush();
    run.push(line);
  }
  flush();
  lines.push('task statuses:');
  for (const status of [...statuses.values()].sort((a, b) => a.started - b.started)) {
    const ok = status.attempts.filter((attempt) => attempt.ok);
    const failed = status.attempts.filter((attempt) => !attempt.ok);
    lines.push(
      `  ${status.node} ${status.task.slice(0, 10)} started ${iso(status.started)} ok ${ok.length ? `n=${ok[0].n}..${ok[ok.length - 1].n} ${iso(ok[0].time)}..${iso(ok[ok.length - 1].time)}` : 'none'}` +
        (failed.length ? ` failed n=${failed.map((attempt) => attempt.n).join(',')} from ${iso(failed[0].time)}` : ''),
    );
  }
  return lines.join('\n');
}

/** Throws with the problems found by checkHistory and the whole history, if any. */
export function assertHistory({ journal, readAt }: JournalRead, service: WriterService, context = ''): void {
  const statuses = taskStatuses(service);
  const problems = checkHistory(journal, statuses, readAt);
  if (problems.length > 0) throw new Error(`${context}${problems.join('\n')}\n${describeHistory(journal, statuses)}`);
}
