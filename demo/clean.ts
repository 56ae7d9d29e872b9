/**
 * `make demo-clean` (entry: demo/clean.mjs): removes everything `make demo` made, in the order that leaves nothing behind:
 *   containers, volumes (berth unmounts, detaches and deletes them while EC2 is still there), the plugin,
 *   the private dockerd (stopped; its data root, exec root, socket, pid file, cgroups and any mount left removed),
 *   the local EC2 endpoint (stopped, then `local-ec2 cleanup`: no loop device or device link stays), the directories.
 * It removes only what carries the demo's names (/var/lib/berth-demo, /run/berth-demo, /dev/berth-demo, the
 * berth-demo cgroup, the demo daemon's plugins); running it again, or with nothing to remove, is fine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cgroupsLeft, removeCgroup } from '../test/support/cgroups';
import { runCommand } from '../test/support/commands';
import { loopDevicesUnder } from '../test/support/loop-devices';
import { mountsOfDevices, mountsUnder, unmountAllUnder } from '../test/support/mounts';
import { descendantsOf, processesMentioning, stopProcess } from '../test/support/processes';
import {
  CGROUP_PARENT, CLI, PLUGIN_SOCKET_ROOT, docker, dockerdPid, loadSettings, paths, pluginIds, runningEndpoint,
  startDockerd, startEndpoint, stopDockerd, stopEndpoint, type Settings,
} from './environment';
import { DemoError, Transcript, describeFailure, removeTree, type Show, type StepDoneEarlier, type StepOutput } from './support';

let transcript = new Transcript();
const step = <T extends StepOutput>(title: string, body: (show: Show) => Promise<T>) => transcript.step(title, body);
const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean);
const loopsOfTheDemo = () => loopDevicesUnder(paths.ec2Data).map(({ device }) => device);

async function removeFromDocker(settings: Settings | undefined) {
  return step('Remove the containers, volumes and plugin of the demo\'s Docker daemon', async (show) => {
    if (!dockerdPid()) return 'its daemon is not running: nothing to remove through Docker';
    await startDockerd(); // waits until it answers (it may still be starting)
    // berth detaches and deletes EBS volumes through EC2: make sure the endpoint is there while it does.
    if (settings && fs.existsSync(paths.ec2Data) && !(await runningEndpoint())) await startEndpoint(settings);
    const done: string[] = [];
    const containers = lines((await docker(['ps', '--all', '--quiet'])).stdout);
    if (containers.length > 0) {
      show(['docker', 'rm', '--force', ...containers]);
      const out = await docker(['rm', '--force', ...containers], { timeoutMs: 180_000 });
      if (out.code !== 0) throw new DemoError('docker rm failed', out.stderr);
      done.push(`${containers.length} container(s)`);
    }
    for (const volume of lines((await docker(['volume', 'ls', '--quiet'])).stdout)) {
      show(['docker', 'volume', 'rm', '--force', volume]);
      const out = await docker(['volume', 'rm', '--force', volume], { timeoutMs: 180_000 });
      if (out.code !== 0) throw new DemoError(`docker volume rm ${volume} failed`, out.stderr);
      done.push(`volume ${volume}`);
    }
    for (const plugin of lines((await docker(['plugin', 'ls', '--format', '{{.Name}}'])).stdout)) {
      show(['docker', 'plugin', 'disable', '--force', plugin]);
      await docker(['plugin', 'disable', '--force', plugin], { timeoutMs: 120_000 });
      show(['docker', 'plugin', 'rm', '--force', plugin]);
      const out = await docker(['plugin', 'rm', '--force', plugin], { timeoutMs: 120_000 });
      if (out.code !== 0) throw new DemoError(`docker plugin rm ${plugin} failed`, out.stderr);
      done.push(`plugin ${plugin}`);
    }
    return done.length > 0 ? `removed ${done.join(', ')}` : 'nothing in it';
  });
}

async function removeDockerd(settings: Settings | undefined, plugins: string[]) {
  return step('Stop the private Docker daemon and remove what it left', async (show) => {
    const pid = dockerdPid();
    if (pid) show(['kill', String(pid)]);
    await stopDockerd();
    // After a daemon that was killed, containerd shims and what they run (containers, the plugin) outlive it. The
    // shims name our exec root; what they run goes first, or it would keep its mounts (and the volumes' loop
    // devices) alive in its own mount namespace.
    const shims = processesMentioning(`${paths.execRoot}/`);
    for (const pid of [...descendantsOf(shims), ...shims]) await stopProcess(pid, 5_000);
    const mounts = mountsUnder([paths.dockerData, paths.execRoot, paths.run]);
    const stillMounted = await unmountAllUnder([paths.dockerData, paths.execRoot, paths.run]);
    if (stillMounted.length > 0) throw new DemoError(`still mounted, not removing: ${stillMounted.join(', ')}`);
    show(['rm', '-rf', '--one-file-system', paths.dockerData, paths.execRoot, paths.socket, paths.dockerPid]);
    await removeTree(paths.dockerData, paths.execRoot);
    for (const file of [paths.socket, paths.dockerPid]) fs.rmSync(file, { force: true });
    // A plugin that was killed with its daemon leaves its socket directory and cgroups (named by plugin id).
    for (const id of plugins) fs.rmSync(path.join(PLUGIN_SOCKET_ROOT, id), { recursive: true, force: true });
    for (const name of [CGROUP_PARENT, ...plugins]) removeCgroup(name);
    // Directories dockerd shares with other daemons: removed only if the demo made them and nobody uses them.
    const preexisting = settings?.preexistingHostDirs ?? [];
    for (const dir of ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker']) {
      if (preexisting.includes(dir)) continue;
      try {
        fs.rmdirSync(dir);
      } catch {
        // not empty (in use by another daemon) or not there
      }
    }
    return [
      pid ? `stopped dockerd (pid ${pid})` : 'dockerd was not running',
      shims.length > 0 ? `stopped ${shims.length} leftover containerd shim(s)` : '',
      mounts.length > 0 ? `unmounted ${mounts.length} leftover mount(s)` : '',
    ].filter(Boolean).join('\n');
  });
}

async function removeEndpoint() {
  return step('Stop the local EC2 endpoint and release its loop devices', async (show) => {
    const pid = await stopEndpoint();
    // Nothing should still be mounted from the demo's volumes; if something is, unmount it before the detach.
    for (const point of mountsOfDevices(loopsOfTheDemo())) await runCommand('umount', ['-l', point], { timeoutMs: 30_000 });
    let report = 'no data dir';
    if (fs.existsSync(paths.ec2Data)) {
      if (fs.existsSync(CLI)) {
        show(['node', 'dist/cli.js', 'local-ec2', 'cleanup', '--data-dir', paths.ec2Data]);
        const out = await runCommand(process.execPath, [CLI, 'local-ec2', 'cleanup', '--data-dir', paths.ec2Data], { timeoutMs: 120_000 });
        if (out.code !== 0) throw new DemoError('local-ec2 cleanup failed', out.stderr);
        const { loopDevices = [], links = [] } = JSON.parse(lines(out.stdout).pop() ?? '{}');
        report = `detached ${loopDevices.length} loop device(s), removed ${links.length} device link(s)`;
      }
      // Without dist/ (or if cleanup missed one): detach by backing file.
      for (const device of loopsOfTheDemo()) await runCommand('losetup', ['--detach', device]);
    }
    show(['rm', '-rf', paths.devdir]);
    await removeTree(paths.devdir);
    return `${pid ? `stopped the endpoint (pid ${pid})` : 'the endpoint was not running'}; ${report}`;
  });
}

async function removeDirectories() {
  return step('Remove the demo\'s directories', async (show) => {
    show(['rm', '-rf', '--one-file-system', paths.state, paths.run]);
    await removeTree(paths.state, paths.run);
    return 'removed';
  });
}

/** What would show that something was left: processes, mounts, loop devices, cgroups, files. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const needle of [paths.run, paths.state, paths.devdir]) {
    for (const pid of processesMentioning(needle)) found.push(`process ${pid} (${needle})`);
  }
  for (const point of mountsUnder([paths.state, paths.run, paths.devdir])) found.push(`mount ${point}`);
  for (const { device } of loopDevicesUnder(paths.state)) found.push(`loop device ${device}`);
  for (const dir of cgroupsLeft(CGROUP_PARENT)) found.push(`cgroup ${dir}`);
  for (const dir of [paths.state, paths.run, paths.devdir]) if (fs.existsSync(dir)) found.push(dir);
  return found;
}

async function run(npm: StepDoneEarlier): Promise<void> {
  if (process.getuid?.() !== 0) throw new DemoError('run it as root');
  transcript.line('Removing the berth demo environment');
  if (npm.text === 'installed') transcript.stepDoneEarlier(npm);
  const settings = loadSettings();
  const plugins = pluginIds(); // read before the data root goes
  await removeFromDocker(settings);
  await removeDockerd(settings, plugins);
  await removeEndpoint();
  await removeDirectories();
  const left = await leftovers();
  if (left.length > 0) throw new DemoError('some things are left', left.join('\n'));
  transcript.summary();
  transcript.line('\nNothing of the demo is left (no process, mount, loop device, cgroup or directory).');
}

/** Called by demo/clean.mjs once the npm packages are there. */
export async function main({ npm }: { npm: StepDoneEarlier }): Promise<void> {
  transcript = new Transcript(npm.startedAt);
  await run(npm).catch((err: unknown) => {
    const { heading, details, unexpected } = describeFailure(err);
    transcript.heading(`demo-clean stopped: ${heading}`);
    if (details) transcript.line(details.split('\n').slice(unexpected ? 0 : -25).map((line) => `  ${line}`).join('\n'));
    transcript.line('Run `make demo-clean` again once the cause is fixed.');
    process.exitCode = 1;
  });
}
