/**
 * The plugin's life around volumes in use: its process killed, the plugin disabled and enabled again, the Docker
 * daemon restarted, and an upgrade to a new build. Each time the data written before is there, containers keep (or
 * resume) writing, and the volume is released cleanly afterwards. One engine and one install for the file.
 */
import { missingDocker, missingRegistry } from '../support/dockerd';
import { sleep, waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { endpointVolumesTagged, expectUnbrokenCount, IMAGE, lastWritten, PLUGIN, pluginDaemonPids } from './environment';
import { buildPluginDir, pluginLog, type BuiltPlugin } from './plugin-harness';
import { PluginSession } from './plugin-session';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'plugin lifecycle with volumes in use', () => {
  const session = new PluginSession();
  let built: BuiltPlugin;
  const enabled = async () => (await session.ok(['plugin', 'inspect', '--format', '{{.Enabled}}', PLUGIN])).trim() === 'true';

  /** Once its last user is gone a volume leaves the mount table and EC2 shows it detached. */
  const expectReleased = async (volume: string) => {
    await waitFor(`${volume} to leave the mount table`, () => !session.mountedHere(volume), { timeoutMs: 15_000 });
    await waitFor(`${volume} to be detached`, async () => !(await endpointVolumesTagged(session.setup.ec2, 'berth:name', volume))[0]?.attachment, { timeoutMs: 15_000 });
  };
  /** Every number the writer appended is in the file, in order, read by a fresh container. */
  const expectAllWritten = async (volume: string, atLeast: number) => {
    expectUnbrokenCount(await session.run(['-v', `${volume}:/data`, IMAGE, 'cat', '/data/n']), atLeast);
  };

  beforeAll(async () => {
    built = await buildPluginDir();
    await session.start(built.dir);
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await session.cleanUp();
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('a killed plugin process is restarted by Docker: the container keeps writing, others still mount, release works', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'killed']);
    await session.startWriter('killed-writer', 'killed');
    await session.stillWriting('killed-writer');
    const [pid] = pluginDaemonPids(session.plugin.id);
    expect(pid).toBeGreaterThan(0);

    process.kill(pid, 'SIGKILL');
    await waitFor('Docker to start the plugin again', () => pluginDaemonPids(session.plugin.id).some((other) => other !== pid), { timeoutMs: 30_000 });
    expect(await enabled()).toBe(true);
    await session.stillWriting('killed-writer');
    // The restarted berth checks who still holds the volume (unmounting its side for a moment): wait for it.
    await waitFor('the volume mounted under the propagated mount again', () => session.mountedHere('killed'), { timeoutMs: 10_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${pluginLog(session.setup.dockerd, session.plugin.id)}`);
    });

    // The restarted daemon still counts the running container: a second user comes and goes without unmounting it.
    expect(await session.run(['-v', 'killed:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await session.stillWriting('killed-writer');

    await session.ok(['stop', '--time', '5', 'killed-writer']);
    await expectReleased('killed');
    const last = await lastWrittenAfterStop('killed');
    await expectAllWritten('killed', last);
    await session.ok(['rm', 'killed-writer']);
    await session.ok(['volume', 'rm', 'killed']);
  }, 5 * 60_000);

  scenario('docker plugin disable --force and enable: the container keeps writing, a second one mounts meanwhile, release works', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'cycled']);
    await session.startWriter('cycled-writer', 'cycled');
    await session.stillWriting('cycled-writer');

    // Refused without --force while a volume exists (the plugin test checks that); forced, Docker stops the plugin
    // and unmounts everything under its directory on the host, while the container keeps its own mount.
    await session.ok(['plugin', 'disable', '--force', PLUGIN]);
    expect(await enabled()).toBe(false);
    expect(session.mountedHere('cycled')).toBe(false);
    await session.stillWriting('cycled-writer');
    await session.ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
    await session.stillWriting('cycled-writer');

    // berth still counts the running container: another one mounts the in-use volume (no fsck of a mounted
    // filesystem), and leaving does not release it.
    expect(await session.run(['-v', 'cycled:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await session.stillWriting('cycled-writer');

    // The writer's own Unmount is the last one: the volume is released with no other container's help.
    await session.ok(['stop', '--time', '5', 'cycled-writer']);
    await expectReleased('cycled');
    await expectAllWritten('cycled', await lastWrittenAfterStop('cycled'));
    await session.ok(['rm', 'cycled-writer']);
    await session.ok(['volume', 'rm', 'cycled']);
  }, 5 * 60_000);

  scenario('a dockerd restart: the --restart always container comes back and carries on writing on the same data', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'restarted']);
    await session.startWriter('restarted-writer', 'restarted', ['--restart', 'always']);
    await session.stillWriting('restarted-writer');
    const before = await lastWritten(session.setup.dockerd, 'restarted-writer', '/data/n');

    // Docker stops the container (Unmount), stops the plugin, starts both again and asks the plugin (Get) about every
    // volume it knows: one answered with an error would be dropped from Docker's list.
    const restartMs = await session.setup.dockerd.restart();
    process.stderr.write(`e2e lifecycle: dockerd restart with the plugin enabled and a volume in use ${restartMs} ms\n`);
    expect(await enabled()).toBe(true);
    expect((await session.ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n')).toContain(`${PLUGIN} restarted`);
    await waitFor('the container to run again', async () => (await session.ok(['inspect', '--format', '{{.State.Running}}', 'restarted-writer'])).trim() === 'true', { timeoutMs: 60_000 });
    const after = await session.stillWriting('restarted-writer');
    expect(after).toBeGreaterThan(before);

    await session.ok(['stop', '--time', '5', 'restarted-writer']);
    await expectReleased('restarted');
    await expectAllWritten('restarted', after);
    await session.ok(['rm', 'restarted-writer']);
    await session.ok(['volume', 'rm', 'restarted']);
  }, 5 * 60_000);


  scenario('docker plugin upgrade to a new build keeps the plugin id, its settings, the volumes and their data', async () => {
    const description = 'berth: upgrade test build';
    const next = await session.pushBuild(built.dir, 'next', description);

    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'upgraded']);
    await session.run(['-v', 'upgraded:/data', IMAGE, 'sh', '-c', 'echo before-upgrade > /data/f']);

    await session.upgradeTo(next);

    const after = JSON.parse(await session.ok(['plugin', 'inspect', PLUGIN]))[0] as {
      Id: string;
      PluginReference: string;
      Config: { Description: string };
      Settings: { Env: string[] };
    };
    expect(after.Id).toBe(session.plugin.id);
    expect(after.Config.Description).toBe(description);
    expect(after.PluginReference).toBe(next);
    expect(after.Settings.Env).toContain(`EBS_ENDPOINT=${session.setup.ec2.ec2}`);
    expect((await session.ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n')).toContain(`${PLUGIN} upgraded`);
    expect(await session.run(['-v', 'upgraded:/data', IMAGE, 'sh', '-c', 'cat /data/f && echo after-upgrade >> /data/f'])).toBe('before-upgrade\n');
    expect(await session.run(['-v', 'upgraded:/data', IMAGE, 'cat', '/data/f'])).toBe('before-upgrade\nafter-upgrade\n');
    await expectReleased('upgraded');
    await session.ok(['volume', 'rm', 'upgraded']);
  }, 10 * 60_000);

  scenario(
    'docker plugin upgrade while a container keeps writing: another container comes and goes without detaching the volume',
    async () => {
      const ref = await session.pushBuild(built.dir, 'next2', 'berth: second upgrade test build');
      await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'live']);
      await session.startWriter('live-writer', 'live');
      let visitor: Promise<unknown> = Promise.resolve();
      try {
        await session.stillWriting('live-writer');
        await session.upgradeTo(ref);
        await session.stillWriting('live-writer');

        // A visitor comes and goes. Creating it already mounts and unmounts the volume (Docker copies image content
        // in); the writer's user was recorded in the propagated mount, which the upgrade kept, so that Unmount is not
        // the last. Either way berth must not detach the device while the writer's container still has it mounted.
        visitor = session.ok(['run', '-d', '--name', 'live-visitor', '--network', 'none', '-v', 'live:/data', IMAGE, 'sleep', '1']);
        visitor.catch(() => undefined);
        const deadline = Date.now() + 6_000;
        while (Date.now() < deadline) {
          const [ebs] = await endpointVolumesTagged(session.setup.ec2, 'berth:name', 'live');
          expect(ebs.attachment?.status).toBe('attached');
          await sleep(250);
        }
        await visitor;
        await session.stillWriting('live-writer');
        await session.ok(['stop', '--time', '5', 'live-writer']);
        await expectReleased('live');
      } finally {
        // With the writer gone a pending detach completes; a last container's Mount and Unmount release the rest.
        await session.setup.dockerd.docker(['rm', '--force', 'live-writer'], { timeoutMs: 150_000 });
        await visitor.catch(() => undefined);
        await session.setup.dockerd.docker(['rm', '--force', 'live-visitor'], { timeoutMs: 150_000 });
        await session.run(['-v', 'live:/data', IMAGE, 'true']);
        await expectReleased('live');
        await session.ok(['volume', 'rm', 'live']);
      }
    },
    10 * 60_000,
  );

  /** The writer's last number, read from the volume by a fresh container once the writer stopped. */
  async function lastWrittenAfterStop(volume: string): Promise<number> {
    return Number((await session.run(['-v', `${volume}:/data`, IMAGE, 'tail', '-n', '1', '/data/n'])).trim());
  }
});
