/**
 * Removes what an earlier swarm run left behind when its test process died before teardown (killed, timed out):
 * only runs whose owner process is gone, found by their names (/tmp/bt-sw-<id>, /dev/bt-sw-<id>, network
 * namespaces bt<id>-*, cgroups bt-sw-<id>-n*). A run still owned by a live process is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { removeCgroup } from '../support/cgroups';
import { runCommand } from '../support/commands';
import { CLI } from '../support/local-ec2';
import { mountsUnder } from '../support/mounts';
import { allPids, commandLineOf, isAlive, killAndWait, namespaceOf, parentOf, processesMentioning, processesOfNamespace } from '../support/processes';

export const RUN_PREFIX = '/tmp/bt-sw-';
export const OWNER_FILE = 'owner.pid';

function ownerAlive(baseDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(baseDir, OWNER_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid);
  } catch {
    // No owner file: the run is still being set up (written first thing) or its files are half removed.
    const age = Date.now() - fs.statSync(baseDir).mtimeMs;
    return age < 10 * 60_000;
  }
}

const REGISTRY_FILE = 'registry.json';

/**
 * Notes which docker-registry process (a child of this process, started by the e2e harness's startRegistry) serves
 * the run, so that a sweep can stop it and remove its storage if this process dies first.
 */
export function recordRegistry(baseDir: string, address: string): void {
  for (const pid of allPids().filter((candidate) => parentOf(candidate) === process.pid)) {
    try {
      const args = commandLineOf(pid) ?? [];
      const config = args[args.indexOf('serve') + 1];
      if (!args[0]?.endsWith('docker-registry') || !config || !fs.readFileSync(config, 'utf8').includes(address)) continue;
      fs.writeFileSync(path.join(baseDir, REGISTRY_FILE), `${JSON.stringify({ pid, dir: path.dirname(config) })}\n`);
      return;
    } catch {
      // exited meanwhile, or not ours
    }
  }
}

function registryOf(baseDir: string): { pid: number; dir: string } | undefined {
  try {
    const { pid, dir } = JSON.parse(fs.readFileSync(path.join(baseDir, REGISTRY_FILE), 'utf8')) as { pid: number; dir: string };
    return /^\/tmp\/bt-registry-[A-Za-z0-9]+$/.test(dir) ? { pid, dir } : undefined;
  } catch {
    return undefined;
  }
}

/** Sweeps every abandoned run; returns a line per run swept (and any problem met). */
export async function sweepAbandonedRuns(): Promise<string[]> {
  const report: string[] = [];
  const bases = fs
    .readdirSync('/tmp')
    .filter((entry) => /^bt-sw-[0-9a-f]{6}$/.test(entry))
    .map((entry) => path.join('/tmp', entry));
  for (const baseDir of bases) {
    if (ownerAlive(baseDir)) continue;
    const runId = baseDir.slice(RUN_PREFIX.length);
    const problems: string[] = [];
    const namespaces = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((name) => name.startsWith(`bt${runId}-`)) : [];
    const victims = new Set<number>(processesMentioning(`${baseDir}/`));
    for (const name of namespaces) {
      const out = await runCommand('ip', ['netns', 'pids', name], { timeoutMs: 15_000 });
      for (const pid of out.stdout.split('\n').filter(Boolean).map(Number)) {
        victims.add(pid);
        const mountNamespace = namespaceOf(pid, 'mnt');
        if (mountNamespace) for (const member of processesOfNamespace(mountNamespace, 'mnt')) victims.add(member);
      }
    }
    const registry = registryOf(baseDir);
    if (registry && processesMentioning(registry.dir).includes(registry.pid)) victims.add(registry.pid);
    victims.delete(process.pid);
    const left = await killAndWait([...victims]);
    if (left.length > 0) problems.push(`still alive: ${left.join(', ')}`);
    const dataDir = path.join(baseDir, 'ec2');
    if (fs.existsSync(dataDir)) {
      const out = await runCommand(process.execPath, [CLI, 'local-ec2', 'cleanup', '--data-dir', dataDir], { timeoutMs: 60_000 });
      if (out.code !== 0) problems.push(`local-ec2 cleanup: ${out.stderr.trim()}`);
    }
    for (const name of namespaces) {
      const out = await runCommand('ip', ['netns', 'del', name], { timeoutMs: 15_000 });
      if (out.code !== 0) problems.push(`ip netns del ${name}: ${out.stderr.trim()}`);
    }
    for (let index = 1; index <= 9; index++) problems.push(...removeCgroup(`bt-sw-${runId}-n${index}`).map((dir) => `cgroup in use: ${dir}`));
    fs.rmSync(`/dev/bt-sw-${runId}`, { recursive: true, force: true });
    if (registry) fs.rmSync(registry.dir, { recursive: true, force: true });
    const mounted = mountsUnder([baseDir]);
    if (mounted.length > 0) problems.push(`mounted, files kept: ${mounted.join(', ')}`);
    else fs.rmSync(baseDir, { recursive: true, force: true });
    report.push(`swept abandoned swarm run ${runId}: ${victims.size} processes, ${namespaces.length} namespaces${problems.length ? `; ${problems.join('; ')}` : ''}`);
  }
  return report;
}
