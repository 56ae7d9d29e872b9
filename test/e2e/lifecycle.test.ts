/**
 * The plugin's life around volumes in use: its process killed, the plugin disabled and enabled again, the Docker
 * daemon restarted, and an upgrade to a new build. Each time the data written before is there, containers keep (or
 * resume) writing, and the volume is released cleanly afterwards. One engine and one install for the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingDocker, missingRegistry, startRegistry, type Registry } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { sleep, waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import {
  cleanUp,
  dockerOk,
  endpointVolumesTagged,
  expectStillWriting,
  expectUnbrokenCount,
  IMAGE,
  lastWritten,
  PLUGIN,
  pluginDaemonPids,
  setupTeardown,
  startSetup,
  writerScript,
  type E2eSetup,
} from './environment';
import {
  buildPluginDir,
  derivedPluginDir,
  installPlugin,
  pluginLog,
  pushPlugin,
  removeAllContainers,
  removePlugin,
  type BuiltPlugin,
  type InstalledPlugin,
} from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'plugin lifecycle with volumes in use', () => {
  let built: BuiltPlugin;
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let plugin: InstalledPlugin | undefined;
  let registry: Registry | undefined;
  const tempDirs: string[] = [];

  const ok = (args: string[], timeoutMs?: number) => dockerOk(setup!.dockerd, plugin?.id, args, timeoutMs);
  const run = (args: string[]) => ok(['run', '--rm', '--network', 'none', ...args]);
  const startWriter = (name: string, volume: string, extra: string[] = []) =>
    ok(['run', '-d', '--name', name, '--network', 'none', ...extra, '-v', `${volume}:/data`, IMAGE, 'sh', '-c', writerScript('/data/n')]);
  const stillWriting = (container: string) => expectStillWriting(setup!.dockerd, container, '/data/n');
  const propagatedMount = () => path.join(setup!.dockerd.dataRoot, 'plugins', plugin!.id, 'propagated-mount');
  const mountedHere = (volume: string) => mountsUnder([propagatedMount()]).includes(path.join(propagatedMount(), volume));
  const enabled = async () => (await ok(['plugin', 'inspect', '--format', '{{.Enabled}}', PLUGIN])).trim() === 'true';

  /** Once its last user is gone a volume leaves the mount table and EC2 shows it detached. */
  const expectReleased = async (volume: string) => {
    await waitFor(`${volume} to leave the mount table`, () => !mountedHere(volume), { timeoutMs: 15_000 });
    await waitFor(`${volume} to be detached`, async () => !(await endpointVolumesTagged(setup!.ec2, 'berth:name', volume))[0]?.attachment, { timeoutMs: 15_000 });
  };
  /** Every number the writer appended is in the file, in order, read by a fresh container. */
  const expectAllWritten = async (volume: string, atLeast: number) => {
    expectUnbrokenCount(await run(['-v', `${volume}:/data`, IMAGE, 'cat', '/data/n']), atLeast);
  };

  beforeAll(async () => {
    built = await buildPluginDir();
    setup = await startSetup();
    plugin = await installPlugin(setup.dockerd, PLUGIN, built.dir, setup.endpointSettings);
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await cleanUp([
        ['containers', () => setup && removeAllContainers(setup.dockerd)],
        ['plugin', () => setup && removePlugin(setup.dockerd, PLUGIN)],
        ...setupTeardown(setup),
        ['registry', () => registry?.stop()],
        ['temp dirs', () => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))],
      ]);
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('a killed plugin process is restarted by Docker: the container keeps writing, others still mount, release works', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'killed']);
    await startWriter('killed-writer', 'killed');
    await stillWriting('killed-writer');
    const [pid] = pluginDaemonPids(plugin!.id);
    expect(pid).toBeGreaterThan(0);

    process.kill(pid, 'SIGKILL');
    await waitFor('Docker to start the plugin again', () => pluginDaemonPids(plugin!.id).some((other) => other !== pid), { timeoutMs: 30_000 });
    expect(await enabled()).toBe(true);
    await stillWriting('killed-writer');
    // The restarted berth checks who still holds the volume (unmounting its side for a moment): wait for it.
    await waitFor('the volume mounted under the propagated mount again', () => mountedHere('killed'), { timeoutMs: 10_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${pluginLog(setup!.dockerd, plugin!.id)}`);
    });

    // The restarted daemon still counts the running container: a second user comes and goes without unmounting it.
    expect(await run(['-v', 'killed:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await stillWriting('killed-writer');

    await ok(['stop', '--time', '5', 'killed-writer']);
    await expectReleased('killed');
    const last = await lastWrittenAfterStop('killed');
    await expectAllWritten('killed', last);
    await ok(['rm', 'killed-writer']);
    await ok(['volume', 'rm', 'killed']);
  }, 5 * 60_000);

  scenario('docker plugin disable --force and enable: the container keeps writing, a second one mounts meanwhile, release works', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'cycled']);
    await startWriter('cycled-writer', 'cycled');
    await stillWriting('cycled-writer');

    // Refused without --force while a volume exists (the plugin test checks that); forced, Docker stops the plugin
    // and unmounts everything under its directory on the host, while the container keeps its own mount.
    await ok(['plugin', 'disable', '--force', PLUGIN]);
    expect(await enabled()).toBe(false);
    expect(mountedHere('cycled')).toBe(false);
    await stillWriting('cycled-writer');
    await ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
    await stillWriting('cycled-writer');

    // berth still counts the running container: another one mounts the in-use volume (no fsck of a mounted
    // filesystem), and leaving does not release it.
    expect(await run(['-v', 'cycled:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await stillWriting('cycled-writer');

    // The writer's own Unmount is the last one: the volume is released with no other container's help.
    await ok(['stop', '--time', '5', 'cycled-writer']);
    await expectReleased('cycled');
    await expectAllWritten('cycled', await lastWrittenAfterStop('cycled'));
    await ok(['rm', 'cycled-writer']);
    await ok(['volume', 'rm', 'cycled']);
  }, 5 * 60_000);

  scenario('a dockerd restart: the --restart always container comes back and carries on writing on the same data', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'restarted']);
    await startWriter('restarted-writer', 'restarted', ['--restart', 'always']);
    await stillWriting('restarted-writer');
    const before = await lastWritten(setup!.dockerd, 'restarted-writer', '/data/n');

    // Docker stops the container (Unmount), stops the plugin, starts both again and asks the plugin (Get) about every
    // volume it knows: one answered with an error would be dropped from Docker's list.
    const restartMs = await setup!.dockerd.restart();
    process.stderr.write(`e2e lifecycle: dockerd restart with the plugin enabled and a volume in use ${restartMs} ms\n`);
    expect(await enabled()).toBe(true);
    expect((await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n')).toContain(`${PLUGIN} restarted`);
    await waitFor('the container to run again', async () => (await ok(['inspect', '--format', '{{.State.Running}}', 'restarted-writer'])).trim() === 'true', { timeoutMs: 60_000 });
    const after = await stillWriting('restarted-writer');
    expect(after).toBeGreaterThan(before);

    await ok(['stop', '--time', '5', 'restarted-writer']);
    await expectReleased('restarted');
    await expectAllWritten('restarted', after);
    await ok(['rm', 'restarted-writer']);
    await ok(['volume', 'rm', 'restarted']);
  }, 5 * 60_000);

  /** Pushes another build of the plugin (same rootfs plus a BUILD file) to the registry; returns its reference. */
  async function pushBuild(build: string, description: string): Promise<string> {
    registry ??= await startRegistry();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-upgrade-'));
    tempDirs.push(dir);
    await derivedPluginDir(built.dir, path.join(dir, 'plugin'), description, build);
    const ref = `${registry.address}/berth/ebs:${build}`;
    await pushPlugin(setup!.dockerd, path.join(dir, 'plugin'), ref);
    return ref;
  }

  /** docker plugin disable --force, upgrade to ref, enable. */
  async function upgradeTo(ref: string): Promise<void> {
    // Upgrading needs the plugin disabled; with volumes present that takes --force.
    await ok(['plugin', 'disable', '--force', PLUGIN]);
    // The remote's name differs from the installed one's: without --skip-remote-check the CLI asks "Plugin images do
    // not match, are you sure? [y/N]" and, with no answer, exits 0 having upgraded nothing.
    await ok(['plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', PLUGIN, ref], 5 * 60_000);
    await ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
  }

  scenario('docker plugin upgrade to a new build keeps the plugin id, its settings, the volumes and their data', async () => {
    const description = 'berth: upgrade test build';
    const next = await pushBuild('next', description);

    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'upgraded']);
    await run(['-v', 'upgraded:/data', IMAGE, 'sh', '-c', 'echo before-upgrade > /data/f']);

    await upgradeTo(next);

    const after = JSON.parse(await ok(['plugin', 'inspect', PLUGIN]))[0] as {
      Id: string;
      PluginReference: string;
      Config: { Description: string };
      Settings: { Env: string[] };
    };
    expect(after.Id).toBe(plugin!.id);
    expect(after.Config.Description).toBe(description);
    expect(after.PluginReference).toBe(next);
    expect(after.Settings.Env).toContain(`EBS_ENDPOINT=${setup!.ec2.ec2}`);
    expect((await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n')).toContain(`${PLUGIN} upgraded`);
    expect(await run(['-v', 'upgraded:/data', IMAGE, 'sh', '-c', 'cat /data/f && echo after-upgrade >> /data/f'])).toBe('before-upgrade\n');
    expect(await run(['-v', 'upgraded:/data', IMAGE, 'cat', '/data/f'])).toBe('before-upgrade\nafter-upgrade\n');
    await expectReleased('upgraded');
    await ok(['volume', 'rm', 'upgraded']);
  }, 10 * 60_000);

  scenario(
    'docker plugin upgrade while a container keeps writing: another container comes and goes without detaching the volume',
    async () => {
      const ref = await pushBuild('next2', 'berth: second upgrade test build');
      await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'live']);
      await startWriter('live-writer', 'live');
      let visitor: Promise<unknown> = Promise.resolve();
      try {
        await stillWriting('live-writer');
        await upgradeTo(ref);
        await stillWriting('live-writer');

        // A visitor comes and goes. Creating it already mounts and unmounts the volume (Docker copies image content
        // in); the writer's user was recorded in the propagated mount, which the upgrade kept, so that Unmount is not
        // the last. Either way berth must not detach the device while the writer's container still has it mounted.
        visitor = ok(['run', '-d', '--name', 'live-visitor', '--network', 'none', '-v', 'live:/data', IMAGE, 'sleep', '1']);
        visitor.catch(() => undefined);
        const deadline = Date.now() + 6_000;
        while (Date.now() < deadline) {
          const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'live');
          expect(ebs.attachment?.status).toBe('attached');
          await sleep(250);
        }
        await visitor;
        await stillWriting('live-writer');
        await ok(['stop', '--time', '5', 'live-writer']);
        await expectReleased('live');
      } finally {
        // With the writer gone a pending detach completes; a last container's Mount and Unmount release the rest.
        await setup!.dockerd.docker(['rm', '--force', 'live-writer'], { timeoutMs: 150_000 });
        await visitor.catch(() => undefined);
        await setup!.dockerd.docker(['rm', '--force', 'live-visitor'], { timeoutMs: 150_000 });
        await run(['-v', 'live:/data', IMAGE, 'true']);
        await expectReleased('live');
        await ok(['volume', 'rm', 'live']);
      }
    },
    10 * 60_000,
  );

  /** The writer's last number, read from the volume by a fresh container once the writer stopped. */
  async function lastWrittenAfterStop(volume: string): Promise<number> {
    return Number((await run(['-v', `${volume}:/data`, IMAGE, 'tail', '-n', '1', '/data/n'])).trim());
  }
});
