/**
 * Legacy (unmanaged) mode: `berth serve` runs on the host from build/legacy (`make legacy`: the plugin's bundle and
 * its own Node.js runtime, whatever Node the host has), as the systemd unit runs it, and Docker finds it by its
 * socket /run/docker/plugins/<name>.sock. It uses its own EBS_TAG namespace and a mount root with shared propagation
 * under a temp dir (the private dockerd shares the host's mount namespace). On exit berth removes its socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommandOk } from '../support/commands';
import { missingDocker } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { cleanUp, endpointVolumesTagged, IMAGE, setupTeardown, startSetup, type E2eSetup } from './environment';
import { buildPluginDir, removeAllContainers } from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);

const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;

const must = (command: string, args: string[]) => runCommandOk(command, args, { timeoutMs: 60_000 });

describeWhen(missingDocker() ?? missingRootAndLoop(), 'legacy plugin: berth serve on the host', () => {
  const name = `bt-legacy-${crypto.randomBytes(3).toString('hex')}`;
  const socket = `/run/docker/plugins/${name}.sock`;
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let base: string | undefined;
  let mountRoot = '';
  let daemon: ChildProcess | undefined;
  /** build/legacy's node and cli.js, assembled into the temp dir from the plugin's build. */
  let legacy: { node: string; cli: string; pluginNode: string };
  let exited: Promise<number | null> | undefined;
  const output: string[] = [];

  const docker = (args: string[]) => setup!.dockerd.docker(args, { timeoutMs: 150_000 });
  const ok = async (args: string[]) => {
    const out = await docker(args);
    if (out.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${out.code}\n${out.stderr}${out.stdout}\n--- berth ---\n${output.join('').slice(-6000)}`);
    return out.stdout;
  };
  const run = (args: string[]) => ok(['run', '--rm', '--network', 'none', ...args]);

  beforeAll(async () => {
    setup = await startSetup();
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-legacy-'));
    const plugin = await buildPluginDir();
    const out = path.join(base, 'legacy');
    await must(process.execPath, [path.resolve(__dirname, '../../plugin/legacy/assemble.mjs'), '--plugin', plugin.dir, '--out', out]);
    legacy = { node: path.join(out, 'bin/node'), cli: path.join(out, 'berth/cli.js'), pluginNode: path.join(plugin.dir, 'rootfs/usr/local/bin/node') };
    mountRoot = path.join(base, 'volumes');
    fs.mkdirSync(mountRoot);
    // Mounts berth makes must reach containers started later: a shared mount root (the unit's PrivateMounts=no).
    await must('mount', ['--bind', mountRoot, mountRoot]);
    await must('mount', ['--make-rshared', mountRoot]);
  }, 5 * 60_000);

  afterAll(async () => {
    try {
      await cleanUp([
        ['containers', () => setup && removeAllContainers(setup.dockerd)],
        [
          'volumes',
          async () => {
            if (!setup) return;
            for (const volume of (await docker(['volume', 'ls', '--quiet', '--filter', `driver=${name}`])).stdout.split('\n').filter(Boolean)) {
              await docker(['volume', 'rm', '--force', volume]);
            }
          },
        ],
        [
          'berth serve',
          async () => {
            if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
              daemon.kill('SIGTERM');
              const timer = setTimeout(() => daemon?.kill('SIGKILL'), 15_000);
              await exited;
              clearTimeout(timer);
            }
            fs.rmSync(socket, { force: true });
          },
        ],
        ...setupTeardown(setup),
        [
          'mount root',
          async () => {
            for (const point of mountsUnder([mountRoot])) await must('umount', ['-l', point]);
            if (base) fs.rmSync(base, { recursive: true, force: true });
          },
        ],
      ]);
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('build/legacy runs on the Node.js runtime the plugin ships, not the host\'s', async () => {
    const shipped = (await must(legacy.node, ['--version'])).trim().replace(/^v/, '');
    expect(shipped).toBe((await must(legacy.pluginNode, ['--version'])).trim().replace(/^v/, ''));
    expect(Number(shipped.split('.')[0])).toBeGreaterThanOrEqual(22);
    expect((await must(legacy.node, [legacy.cli, 'version'])).trim()).toBe(`berth ${PACKAGE_VERSION} (Node.js ${shipped})`);
  }, 60_000);

  scenario('berth serve on the host serves volumes to the engine through --volume-driver, in its own EBS_TAG namespace', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...setup!.endpointSettings,
      EBS_SOCKET: socket,
      EBS_MOUNTROOT: mountRoot,
      EBS_STATEDIR: path.join(base!, 'state'),
      EBS_TAG: name,
    };
    daemon = spawn(legacy.node, [legacy.cli, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
    exited = new Promise((resolve) => daemon!.once('exit', (code) => resolve(code)));
    await waitFor('berth to listen on its socket', () => fs.existsSync(socket), { timeoutMs: 30_000, intervalMs: 100 });

    await ok(['volume', 'create', '--driver', name, '-o', 'size=1', 'lv']);
    expect((await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n')).toContain(`${name} lv`);
    const write = await run(['--volume-driver', name, '-v', 'lv:/data', IMAGE, 'sh', '-c', 'echo legacy > /data/f && grep " /data " /proc/mounts']);
    expect(write).toMatch(/ \/data ext4 /);
    expect(await run(['--volume-driver', name, '-v', 'lv:/data', IMAGE, 'cat', '/data/f'])).toBe('legacy\n');
    // Implicit create through the same driver name.
    expect(await run(['--volume-driver', name, '-v', 'lv2:/data', IMAGE, 'sh', '-c', 'echo two > /data/f && cat /data/f'])).toBe('two\n');

    // Its own namespace: REX-Ray's Name tag <EBS_TAG>/<name>, berth:namespace = EBS_TAG.
    // Released within the release delay after the containers' short use.
    const released = async () =>
      mountsUnder([mountRoot]).filter((point) => point !== mountRoot).length === 0 &&
      (await endpointVolumesTagged(setup!.ec2, 'berth:namespace', name)).every((volume) => !volume.attachment);
    await waitFor('lv and lv2 to be released', released, { timeoutMs: 15_000 });
    const [ebs] = await endpointVolumesTagged(setup!.ec2, 'Name', `${name}/lv`);
    expect(ebs.tags).toEqual(expect.objectContaining({ 'berth:namespace': name, 'berth:name': 'lv' }));
    expect(ebs.attachment).toBeUndefined();
    expect(mountsUnder([mountRoot]).filter((point) => point !== mountRoot)).toEqual([]);

    await ok(['volume', 'rm', 'lv', 'lv2']);
    expect(await endpointVolumesTagged(setup!.ec2, 'berth:namespace', name)).toEqual([]);
  }, 5 * 60_000);

  scenario('on SIGTERM berth exits 0 and removes its socket (a dead socket stalls Docker for 15 s per lookup)', async () => {
    expect(fs.existsSync(socket)).toBe(true);
    daemon!.kill('SIGTERM');
    const timer = setTimeout(() => daemon?.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(fs.existsSync(socket)).toBe(false);
    // A restarted engine (as after a reboot) scans /run/docker/plugins for legacy plugins on `docker volume ls`:
    // with berth's socket gone there is nothing to dial; a dead socket would hold the listing for about 15 s.
    await setup!.dockerd.restart();
    const started = Date.now();
    await ok(['volume', 'ls']);
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 2 * 60_000);
});
