/**
 * `docker plugin upgrade` from the previous release, built from its commit, to this build, with a container writing on
 * a volume throughout; then an upgrade from this build to another. Nothing is detached, nothing written is lost, and
 * from this build on berth's state (a folder of the propagated mount) outlives the upgrade.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingDocker, missingRegistry, startRegistry, type Registry } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { sleep, waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import {
  callsSince,
  cleanUp,
  dockerOk,
  endpointVolumesTagged,
  expectStillWriting,
  expectUnbrokenCount,
  IMAGE,
  lastCallSeq,
  PLUGIN,
  setupTeardown,
  startSetup,
  writerScript,
  type E2eSetup,
} from './environment';
import {
  buildPluginDir,
  derivedPluginDir,
  installPlugin,
  pluginDirOfCommit,
  pluginLog,
  pushPlugin,
  removeAllContainers,
  removePlugin,
  type InstalledPlugin,
} from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);

/** The previous release: its state lived in its rootfs, at /var/lib/berth. */
const PREVIOUS_RELEASE = '5089010';
const STILL_HELD = "volume in use since before berth restarted; the next Mount mounts berth's side again";

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'upgrading berth', () => {
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let plugin: InstalledPlugin | undefined;
  let registry: Registry | undefined;
  let thisBuild = '';
  let nextBuild = '';
  const tempDirs: string[] = [];

  const ok = (args: string[], timeoutMs?: number) => dockerOk(setup!.dockerd, plugin?.id, args, timeoutMs);
  const run = (args: string[]) => ok(['run', '--rm', '--network', 'none', ...args]);
  const pluginDir = () => path.join(setup!.dockerd.dataRoot, 'plugins', plugin!.id);
  const propagatedMount = () => path.join(pluginDir(), 'propagated-mount');
  const mountedHere = (volume: string) => mountsUnder([propagatedMount()]).includes(path.join(propagatedMount(), volume));
  const recordedUsers = (volume: string): number => {
    const file = path.join(propagatedMount(), '.berth/mounts.json');
    if (!fs.existsSync(file)) return 0;
    const ids = (JSON.parse(fs.readFileSync(file, 'utf8')) as { mounts: Record<string, { ids: Record<string, number> }> }).mounts[volume]?.ids ?? {};
    return Object.values(ids).reduce((sum, count) => sum + count, 0);
  };
  const logLinesSince = (mark: number) => pluginLog(setup!.dockerd, plugin!.id, 100_000).split('\n').slice(mark);
  const logMark = () => pluginLog(setup!.dockerd, plugin!.id, 100_000).split('\n').length;

  beforeAll(async () => {
    const previous = await pluginDirOfCommit(PREVIOUS_RELEASE);
    process.stderr.write(`e2e upgrade: plugin of ${PREVIOUS_RELEASE} ready in ${previous.seconds.toFixed(1)} s\n`);
    const built = await buildPluginDir();
    setup = await startSetup();
    plugin = await installPlugin(setup.dockerd, PLUGIN, previous.dir, setup.endpointSettings);
    registry = await startRegistry();
    thisBuild = `${registry.address}/berth/ebs:this`;
    await pushPlugin(setup.dockerd, built.dir, thisBuild);
    const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-upgrade-'));
    tempDirs.push(temp);
    nextBuild = `${registry.address}/berth/ebs:next`;
    await pushPlugin(setup.dockerd, await derivedPluginDir(built.dir, path.join(temp, 'plugin'), 'berth: the build after this one', 'next'), nextBuild);
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

  /** docker plugin disable --force, upgrade to ref, enable (see lifecycle.test.ts). */
  async function upgradeTo(ref: string): Promise<void> {
    await ok(['plugin', 'disable', '--force', PLUGIN]);
    await ok(['plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', PLUGIN, ref], 5 * 60_000);
    await ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
  }

  /** EC2 keeps the volume attached, and berth asked for no detach of it, since the call-log mark. */
  async function expectNeverDetached(volume: string, since: number): Promise<void> {
    const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', volume);
    expect(ebs.attachment?.status).toBe('attached');
    expect((await callsSince(setup!.ec2, since, 'DetachVolume')).filter((call) => call.volumeId === ebs.id)).toEqual([]);
  }

  scenario(`from the previous release (${PREVIOUS_RELEASE}) to this build and on: a container writes throughout, nothing is detached or lost`, async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'carried']);
    await ok(['run', '-d', '--name', 'carried-writer', '--network', 'none', '-v', 'carried:/data', IMAGE, 'sh', '-c', writerScript('/data/n')]);
    await expectStillWriting(setup!.dockerd, 'carried-writer', '/data/n');
    const since = await lastCallSeq(setup!.ec2);

    let mark = logMark();
    await upgradeTo(thisBuild);
    await expectStillWriting(setup!.dockerd, 'carried-writer', '/data/n');
    const inspected = JSON.parse(await ok(['plugin', 'inspect', PLUGIN]))[0] as { Id: string; Settings: { Env: string[] } };
    expect(inspected.Id).toBe(plugin!.id);
    // Docker keeps the environment of the install: the previous release's fixed EBS_STATEDIR, which this build's
    // rootfs links to the folder its manifest declares in the propagated mount.
    expect(inspected.Settings.Env).toContain('EBS_STATEDIR=/var/lib/berth');
    expect(fs.readlinkSync(path.join(pluginDir(), 'rootfs/var/lib/berth'))).toBe('libstorage/volumes/.berth');
    // The previous release's records went with its rootfs, which the upgrade replaced (Docker keeps no copy): this
    // berth knows no user of the volume. It detaches nothing while the device is still mounted anywhere.
    expect(fs.existsSync(path.join(pluginDir(), 'rootfs-old'))).toBe(false);
    await waitFor('berth to answer again', async () => (await ok(['volume', 'ls', '--format', '{{.Name}}'])).includes('carried'), { timeoutMs: 30_000 });
    expect(logLinesSince(mark).filter((line) => line.includes(STILL_HELD))).toEqual([]);
    expect(recordedUsers('carried')).toBe(0);

    // A second container comes to stay: this berth records it, in the propagated mount. A visitor comes and goes.
    await ok(['run', '-d', '--name', 'carried-holder', '--network', 'none', '-v', 'carried:/data', IMAGE, 'sleep', '3600']);
    expect(recordedUsers('carried')).toBe(1);
    expect(await run(['-v', 'carried:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await sleep(3_000); // past EBS_RELEASEDELAY: a wrongly released volume would be detaching by now
    await expectNeverDetached('carried', since);
    await expectStillWriting(setup!.dockerd, 'carried-writer', '/data/n');

    // Upgraded again, berth reads the records it made: it knows the holder and finds the device still held.
    mark = logMark();
    await upgradeTo(nextBuild);
    await expectStillWriting(setup!.dockerd, 'carried-writer', '/data/n');
    expect(recordedUsers('carried')).toBe(1);
    await waitFor('berth to check the users it recorded before the upgrade', () => logLinesSince(mark).some((line) => line.includes(STILL_HELD) && line.includes('carried')), {
      timeoutMs: 30_000,
    });
    await expectNeverDetached('carried', since);

    // The holder's Unmount is the last one berth knows of; the writer still holds the device, so it stays. Once the
    // writer stops too, the volume is released.
    await ok(['rm', '--force', 'carried-holder']);
    await sleep(3_000);
    await expectNeverDetached('carried', since);
    await expectStillWriting(setup!.dockerd, 'carried-writer', '/data/n');
    await ok(['stop', '--time', '5', 'carried-writer']);
    const count = await run(['-v', 'carried:/data', IMAGE, 'cat', '/data/n']);
    expectUnbrokenCount(count, 50);
    await waitFor('carried to leave the mount table', () => !mountedHere('carried'), { timeoutMs: 60_000 });
    await waitFor('carried to be detached', async () => !(await endpointVolumesTagged(setup!.ec2, 'berth:name', 'carried'))[0]?.attachment, { timeoutMs: 60_000 });
    await ok(['rm', 'carried-writer']);
    await ok(['volume', 'rm', 'carried']);
  }, 10 * 60_000);
});
