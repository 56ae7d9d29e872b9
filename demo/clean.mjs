#!/usr/bin/env node
/**
 * `make demo-clean`: removes everything `make demo` made, in the order that leaves nothing behind:
 *   containers, volumes (berth unmounts, detaches and deletes them while EC2 is still there), the plugin,
 *   the private dockerd (stopped; its data root, exec root, socket, pid file, cgroups and any mount left removed),
 *   the local EC2 endpoint (stopped, then `local-ec2 cleanup`: no loop device or device link stays), the directories.
 * It removes only what carries the demo's names (/var/lib/berth-demo, /run/berth-demo, /dev/berth-demo, the
 * berth-demo cgroup, the demo daemon's plugins); running it again, or with nothing to remove, is fine.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  CGROUP_PARENT, CLI, PLUGIN_SOCKET_ROOT, docker, dockerdPid, loadSettings, paths, pluginIds, runningEndpoint,
  startDockerd, startEndpoint, stopDockerd, stopEndpoint,
} from './environment.mjs';
import {
  DemoError, Transcript, cgroupsLeft, descendantsOf, mountsOf, mountsUnder, processesMentioning, removeCgroup, removeTree, run,
  sleep, stopProcess, unmountAllUnder,
} from './support.mjs';

const transcript = new Transcript();
const step = (title, body) => transcript.step(title, body);
const lines = (text) => text.split('\n').map((line) => line.trim()).filter(Boolean);

/** Loop devices whose backing file is under dir (from `losetup --list`). */
async function loopDevicesUnder(dir) {
  const out = await run('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE']);
  return lines(out.stdout)
    .map((line) => line.split(' '))
    .filter(([, file]) => file && file.startsWith(`${dir}/`))
    .map(([name]) => name);
}

async function removeFromDocker(settings) {
  return step('Remove the containers, volumes and plugin of the demo\'s Docker daemon', async (show) => {
    if (!dockerdPid()) return 'its daemon is not running: nothing to remove through Docker';
    await startDockerd(); // waits until it answers (it may still be starting)
    // berth detaches and deletes EBS volumes through EC2: make sure the endpoint is there while it does.
    if (settings && fs.existsSync(paths.ec2Data) && !(await runningEndpoint())) await startEndpoint(settings);
    const done = [];
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

async function removeDockerd(settings, plugins) {
  return step('Stop the private Docker daemon and remove what it left', async (show) => {
    const pid = dockerdPid();
    if (pid) show(['kill', String(pid)]);
    await stopDockerd();
    // After a daemon that was killed, containerd shims and what they run (containers, the plugin) outlive it. The
    // shims name our exec root; what they run goes first, or it would keep its mounts (and the volumes' loop
    // devices) alive in its own mount namespace.
    const shims = processesMentioning(`${paths.execRoot}/`);
    for (const pid of [...descendantsOf(shims), ...shims]) await stopProcess(pid, 5_000);
    if (shims.length > 0) await sleep(200);
    const mounts = mountsUnder([paths.dockerData, paths.execRoot, paths.run]);
    await unmountAllUnder([paths.dockerData, paths.execRoot, paths.run]);
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
    for (const point of mountsOf(await loopDevicesUnder(paths.ec2Data))) await run('umount', ['-l', point], { timeoutMs: 30_000 });
    let report = 'no data dir';
    if (fs.existsSync(paths.ec2Data)) {
      if (fs.existsSync(CLI)) {
        show(['node', 'dist/cli.js', 'local-ec2', 'cleanup', '--data-dir', paths.ec2Data]);
        const out = await run(process.execPath, [CLI, 'local-ec2', 'cleanup', '--data-dir', paths.ec2Data], { timeoutMs: 120_000 });
        if (out.code !== 0) throw new DemoError('local-ec2 cleanup failed', out.stderr);
        const { loopDevices = [], links = [] } = JSON.parse(lines(out.stdout).pop() ?? '{}');
        report = `detached ${loopDevices.length} loop device(s), removed ${links.length} device link(s)`;
      }
      // Without dist/ (or if cleanup missed one): detach by backing file.
      for (const device of await loopDevicesUnder(paths.ec2Data)) await run('losetup', ['--detach', device]);
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
async function leftovers() {
  const found = [];
  for (const needle of [paths.run, paths.state, paths.devdir]) {
    for (const pid of processesMentioning(needle)) found.push(`process ${pid} (${needle})`);
  }
  for (const point of mountsUnder([paths.state, paths.run, paths.devdir])) found.push(`mount ${point}`);
  for (const device of await loopDevicesUnder(paths.state)) found.push(`loop device ${device}`);
  for (const dir of cgroupsLeft(CGROUP_PARENT)) found.push(`cgroup ${dir}`);
  for (const dir of [paths.state, paths.run, paths.devdir]) if (fs.existsSync(dir)) found.push(dir);
  return found;
}

async function main() {
  if (process.getuid?.() !== 0) throw new DemoError('run it as root');
  transcript.line('Removing the berth demo environment');
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

main().catch((err) => {
  transcript.heading(`demo-clean stopped: ${err.message}`);
  if (err.details) transcript.line(err.details.split('\n').slice(-25).map((line) => `  ${line}`).join('\n'));
  if (!(err instanceof DemoError)) transcript.line(err.stack);
  transcript.line('Run `make demo-clean` again once the cause is fixed.');
  process.exitCode = 1;
});
