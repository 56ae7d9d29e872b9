/**
 * `docker plugin upgrade` from the previous release, built from its commit, to this build, with a container writing on
 * a volume throughout; then an upgrade from this build to another. Nothing is detached, nothing written is lost, and
 * from this build on berth's state (a folder of the propagated mount) outlives the upgrade.
 */
import fs from 'node:fs';
import path from 'node:path';
import { missingDocker, missingRegistry } from '../support/dockerd';
import { sleep, waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { callsSince, endpointVolumesTagged, expectUnbrokenCount, IMAGE, lastCallSeq, PLUGIN, writerScript } from './environment';
import { buildPluginDir, pluginDirOfCommit, pluginLog } from './plugin-harness';
import { PluginSession } from './plugin-session';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);

/** The previous release: its state lived in its rootfs, at /var/lib/berth. */
const PREVIOUS_RELEASE = '5089010';
const STILL_HELD = "volume in use since before berth restarted; the next Mount mounts berth's side again";

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'upgrading berth', () => {
  const session = new PluginSession();
  let thisBuild = '';
  let nextBuild = '';
  const recordedUsers = (volume: string): number => {
    const file = path.join(session.propagatedMount(), '.berth/mounts.json');
    if (!fs.existsSync(file)) return 0;
    const ids = (JSON.parse(fs.readFileSync(file, 'utf8')) as { mounts: Record<string, { ids: Record<string, number> }> }).mounts[volume]?.ids ?? {};
    return Object.values(ids).reduce((sum, count) => sum + count, 0);
  };
  const logLinesSince = (mark: number) => pluginLog(session.setup.dockerd, session.plugin.id, 100_000).split('\n').slice(mark);
  const logMark = () => pluginLog(session.setup.dockerd, session.plugin.id, 100_000).split('\n').length;

  beforeAll(async () => {
    const previous = await pluginDirOfCommit(PREVIOUS_RELEASE);
    process.stderr.write(`e2e upgrade: plugin of ${PREVIOUS_RELEASE} ready in ${previous.seconds.toFixed(1)} s\n`);
    const built = await buildPluginDir();
    await session.start(previous.dir);
    thisBuild = await session.push(built.dir, 'this');
    nextBuild = await session.pushBuild(built.dir, 'next', 'berth: the build after this one');
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await session.cleanUp();
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  /** EC2 keeps the volume attached, and berth asked for no detach of it, since the call-log mark. */
  async function expectNeverDetached(volume: string, since: number): Promise<void> {
    const [ebs] = await endpointVolumesTagged(session.setup.ec2, 'berth:name', volume);
    expect(ebs.attachment?.status).toBe('attached');
    expect((await callsSince(session.setup.ec2, since, 'DetachVolume')).filter((call) => call.volumeId === ebs.id)).toEqual([]);
  }

  scenario(`from the previous release (${PREVIOUS_RELEASE}) to this build and on: a container writes throughout, nothing is detached or lost`, async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'carried']);
    await session.ok(['run', '-d', '--name', 'carried-writer', '--network', 'none', '-v', 'carried:/data', IMAGE, 'sh', '-c', writerScript('/data/n')]);
    await session.stillWriting('carried-writer');
    const since = await lastCallSeq(session.setup.ec2);

    let mark = logMark();
    await session.upgradeTo(thisBuild);
    await session.stillWriting('carried-writer');
    const inspected = JSON.parse(await session.ok(['plugin', 'inspect', PLUGIN]))[0] as { Id: string; Settings: { Env: string[] } };
    expect(inspected.Id).toBe(session.plugin.id);
    // Docker keeps the environment of the install: the previous release's fixed EBS_STATEDIR, which this build's
    // rootfs links to the folder its manifest declares in the propagated mount.
    expect(inspected.Settings.Env).toContain('EBS_STATEDIR=/var/lib/berth');
    expect(fs.readlinkSync(path.join(session.pluginDir(), 'rootfs/var/lib/berth'))).toBe('libstorage/volumes/.berth');
    // The previous release's records went with its rootfs, which the upgrade replaced (Docker keeps no copy): this
    // berth knows no user of the volume. It detaches nothing while the device is still mounted anywhere.
    expect(fs.existsSync(path.join(session.pluginDir(), 'rootfs-old'))).toBe(false);
    await waitFor('berth to answer again', async () => (await session.ok(['volume', 'ls', '--format', '{{.Name}}'])).includes('carried'), { timeoutMs: 30_000 });
    expect(logLinesSince(mark).filter((line) => line.includes(STILL_HELD))).toEqual([]);
    expect(recordedUsers('carried')).toBe(0);

    // A second container comes to stay: this berth records it, in the propagated mount. A visitor comes and goes.
    await session.ok(['run', '-d', '--name', 'carried-holder', '--network', 'none', '-v', 'carried:/data', IMAGE, 'sleep', '3600']);
    expect(recordedUsers('carried')).toBe(1);
    expect(await session.run(['-v', 'carried:/data', IMAGE, 'sh', '-c', 'test -s /data/n && echo seen'])).toBe('seen\n');
    await sleep(3_000); // past EBS_RELEASEDELAY: a wrongly released volume would be detaching by now
    await expectNeverDetached('carried', since);
    await session.stillWriting('carried-writer');

    // Upgraded again, berth reads the records it made: it knows the holder and finds the device still held.
    mark = logMark();
    await session.upgradeTo(nextBuild);
    await session.stillWriting('carried-writer');
    expect(recordedUsers('carried')).toBe(1);
    await waitFor('berth to check the users it recorded before the upgrade', () => logLinesSince(mark).some((line) => line.includes(STILL_HELD) && line.includes('carried')), {
      timeoutMs: 30_000,
    });
    await expectNeverDetached('carried', since);

    // The holder's Unmount is the last one berth knows of; the writer still holds the device, so it stays. Once the
    // writer stops too, the volume is released.
    await session.ok(['rm', '--force', 'carried-holder']);
    await sleep(3_000);
    await expectNeverDetached('carried', since);
    await session.stillWriting('carried-writer');
    await session.ok(['stop', '--time', '5', 'carried-writer']);
    const count = await session.run(['-v', 'carried:/data', IMAGE, 'cat', '/data/n']);
    expectUnbrokenCount(count, 50);
    await waitFor('carried to leave the mount table', () => !session.mountedHere('carried'), { timeoutMs: 60_000 });
    await waitFor('carried to be detached', async () => !(await endpointVolumesTagged(session.setup.ec2, 'berth:name', 'carried'))[0]?.attachment, { timeoutMs: 60_000 });
    await session.ok(['rm', 'carried-writer']);
    await session.ok(['volume', 'rm', 'carried']);
  }, 10 * 60_000);
});
