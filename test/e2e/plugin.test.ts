/**
 * The managed plugin in a real Docker engine, used as users use it: built from this tree (build/plugin), created and
 * enabled in a private dockerd, pointed at the local EC2 endpoint on loopback. One engine and one install serve
 * every scenario of this file; each scenario cleans up its own containers and volumes (prune comes last).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingDocker } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import {
  callsSince,
  cleanUp,
  dockerOk,
  endpointVolumes,
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
import { buildPluginDir, installPlugin, removeAllContainers, removePlugin, type BuiltPlugin, type InstalledPlugin } from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const MiB = 1024 * 1024;
const scenario = timedScenarios(__filename);

interface InspectedVolume {
  Driver: string;
  Name: string;
  Scope: string;
  Mountpoint: string;
  Options: Record<string, string> | null;
  Status: Record<string, unknown>;
}

describeWhen(missingDocker() ?? missingRootAndLoop(), 'managed plugin in a private dockerd', () => {
  let built: BuiltPlugin;
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let plugin: InstalledPlugin | undefined;
  const tempDirs: string[] = [];

  const docker = (args: string[], timeoutMs = 150_000) => setup!.dockerd.docker(args, { timeoutMs });
  const ok = (args: string[], timeoutMs?: number) => dockerOk(setup!.dockerd, plugin?.id, args, timeoutMs);
  /** docker run --rm --network none ...; throws with the plugin log unless it exits 0. */
  const run = (args: string[]) => ok(['run', '--rm', '--network', 'none', ...args]);
  /** A detached container appending numbers to /data/<file> (see writerScript). */
  const startWriter = (name: string, volume: string, file: string, extra: string[] = []) =>
    ok(['run', '-d', '--name', name, '--network', 'none', ...extra, '-v', `${volume}:/data`, IMAGE, 'sh', '-c', writerScript(`/data/${file}`)]);
  const stop = (...containers: string[]) => ok(['stop', '--time', '5', ...containers]);
  const remove = (...containers: string[]) => ok(['rm', '--force', ...containers]);
  const inspect = async (volume: string) => (JSON.parse(await ok(['volume', 'inspect', volume])) as InspectedVolume[])[0];
  const listed = async () => (await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n').filter(Boolean);
  const propagatedMount = () => path.join(setup!.dockerd.dataRoot, 'plugins', plugin!.id, 'propagated-mount');
  const mountedHere = (volume: string) => mountsUnder([propagatedMount()]).includes(path.join(propagatedMount(), volume));

  beforeAll(async () => {
    built = await buildPluginDir();
    setup = await startSetup();
    plugin = await installPlugin(setup.dockerd, PLUGIN, built.dir, setup.endpointSettings);
    process.stderr.write(
      `e2e plugin: rootfs ${(built.rootfsBytes / MiB).toFixed(1)} MiB (${built.rebuilt ? `built in ${built.seconds.toFixed(1)} s` : 'reused'}), ` +
        `dockerd up in ${setup.dockerd.startMs} ms, plugin create ${plugin.createMs} ms, enable ${plugin.enableMs} ms\n`,
    );
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await cleanUp([
        ['containers', () => setup && removeAllContainers(setup.dockerd)],
        ['plugin', () => setup && removePlugin(setup.dockerd, PLUGIN)],
        ...setupTeardown(setup),
        ['temp dirs', () => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))],
      ]);
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('is enabled with the settings given by docker plugin set, and only those', async () => {
    const plugins = await ok(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']);
    expect(plugins.trim().split('\n')).toContain(`${PLUGIN} true`);
    // The description names the release (docker plugin ls shows it).
    const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect((await ok(['plugin', 'inspect', '--format', '{{.Config.Description}}', PLUGIN])).trim().startsWith(`berth ${version}: `)).toBe(true);
    const env = JSON.parse(await ok(['plugin', 'inspect', '--format', '{{json .Settings.Env}}', PLUGIN])) as string[];
    expect(env).toContain(`EBS_ENDPOINT=${setup!.ec2.ec2}`);
    expect(env).toContain(`EBS_DEVICEDIR=${setup!.devdir}`);
    // Declared without a value and never set: not exported at all (berth then applies its own default).
    expect(env.some((entry) => entry.startsWith('EBS_REGION='))).toBe(false);
  }, 60_000);

  scenario('volume create with options: inspect shows the driver, Scope global and the EBS facts; volume ls lists it', async () => {
    await ok(['volume', 'create', '--driver', 'berth/ebs', '-o', 'size=10', '-o', 'type=gp3', '-o', 'iops=4000', '-o', 'tags=team=db,env=test', 'optvol']);
    const volume = await inspect('optvol');
    expect(volume.Driver).toBe(PLUGIN);
    expect(volume.Scope).toBe('global');
    expect(volume.Options).toEqual({ size: '10', type: 'gp3', iops: '4000', tags: 'team=db,env=test' });
    expect(volume.Status).toEqual(
      expect.objectContaining({
        volumeId: expect.stringMatching(/^vol-[0-9a-f]{17}$/),
        sizeGiB: 10,
        volumeType: 'gp3',
        iops: 4000,
        encrypted: false,
        availabilityZone: setup!.instance.az,
        state: 'available',
        attachedTo: '',
        fsType: 'ext4',
        formatted: false,
      }),
    );
    expect(await listed()).toContain(`${PLUGIN} optvol`);

    // What EC2 holds: the same volume, with the user's tags and REX-Ray's Name tag.
    const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'optvol');
    expect(ebs).toEqual(expect.objectContaining({ id: volume.Status.volumeId, sizeGiB: 10, volumeType: 'gp3', iops: 4000 }));
    expect(ebs.tags).toEqual(expect.objectContaining({ Name: 'optvol', team: 'db', env: 'test' }));

    await ok(['volume', 'rm', 'optvol']);
    expect(await listed()).not.toContain(`${PLUGIN} optvol`);
    expect((await endpointVolumes(setup!.ec2)).map((v) => v.id)).not.toContain(volume.Status.volumeId);
  }, 5 * 60_000);

  scenario('a container writes to a volume and a new container reads it back from a real ext4 filesystem', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'v1']);
    const write = await run(['-v', 'v1:/data', IMAGE, 'sh', '-c', 'echo hi > /data/f && grep " /data " /proc/mounts']);
    // A real block device filesystem, not a directory of the plugin.
    expect(write).toMatch(/ \/data ext4 /);
    expect(await run(['-v', 'v1:/data', IMAGE, 'cat', '/data/f'])).toBe('hi\n');
    await ok(['volume', 'rm', 'v1']);
  }, 5 * 60_000);

  scenario("while in use the volume is in the host's mount table under the plugin's propagated mount, attached; not after", async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'mt']);
    expect(mountedHere('mt')).toBe(false);
    await startWriter('mt-writer', 'mt', 'n');
    try {
      await expectStillWriting(setup!.dockerd, 'mt-writer', '/data/n');
      expect(mountedHere('mt')).toBe(true);
      const inUse = await inspect('mt');
      expect(inUse.Status).toEqual(expect.objectContaining({ state: 'in-use', attachedTo: setup!.instance.id, attachmentState: 'attached' }));
      // Every engine (20.10, 26.1, 28.x) shows the plugin's own path as the volume's Mountpoint, and no Source for
      // the container's mount of it: the host's path is under the plugin's propagated mount.
      expect(inUse.Mountpoint).toBe('/var/lib/libstorage/volumes/mt/data');
      const [mount] = JSON.parse(await ok(['inspect', '--format', '{{json .Mounts}}', 'mt-writer'])) as Array<{ Name: string; Driver: string; Source: string }>;
      expect(mount).toEqual(expect.objectContaining({ Name: 'mt', Driver: PLUGIN, Source: '' }));
      const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'mt');
      expect(ebs.attachment).toEqual(expect.objectContaining({ instanceId: setup!.instance.id, status: 'attached' }));
    } finally {
      await stop('mt-writer');
    }
    await waitFor('the volume to leave the mount table', () => !mountedHere('mt'), { timeoutMs: 10_000 });
    await waitFor('the volume to be detached', async () => !(await endpointVolumesTagged(setup!.ec2, 'berth:name', 'mt'))[0].attachment, { timeoutMs: 10_000 });
    expect((await inspect('mt')).Status).toEqual(expect.objectContaining({ state: 'available', attachedTo: '' }));
    await remove('mt-writer');
    await ok(['volume', 'rm', 'mt']);
  }, 5 * 60_000);

  scenario('two containers use one volume at once; when one stops, the other keeps writing', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'shared']);
    await startWriter('shared-a', 'shared', 'a');
    await startWriter('shared-b', 'shared', 'b');
    try {
      await expectStillWriting(setup!.dockerd, 'shared-a', '/data/a');
      await expectStillWriting(setup!.dockerd, 'shared-b', '/data/b');
      // One filesystem: each sees what the other writes.
      await ok(['exec', 'shared-a', 'test', '-s', '/data/b']);
      await ok(['exec', 'shared-b', 'test', '-s', '/data/a']);

      await stop('shared-b');
      expect(mountedHere('shared')).toBe(true);
      await expectStillWriting(setup!.dockerd, 'shared-a', '/data/a');
      await ok(['exec', 'shared-a', 'sh', '-c', 'echo still-here > /data/after-b-stopped']);
    } finally {
      await stop('shared-a', 'shared-b');
    }
    await waitFor('the volume to leave the mount table', () => !mountedHere('shared'), { timeoutMs: 10_000 });
    const read = await run(['-v', 'shared:/data', IMAGE, 'sh', '-c', 'cat /data/after-b-stopped; echo ---; cat /data/a']);
    const [marker, lines] = read.split('---\n');
    expect(marker).toBe('still-here\n');
    expectUnbrokenCount(lines, 10);
    await remove('shared-a', 'shared-b');
    await ok(['volume', 'rm', 'shared']);
  }, 5 * 60_000);

  scenario("docker cp into a running container's volume lands on the volume and leaves it mounted", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-cp-'));
    tempDirs.push(dir);
    fs.writeFileSync(path.join(dir, 'copied.txt'), 'copied from the host\n');
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'cpvol']);
    await startWriter('cp-writer', 'cpvol', 'n');
    try {
      await expectStillWriting(setup!.dockerd, 'cp-writer', '/data/n');
      // Each cp sends Mount and Unmount with the running container's own mount ID: counting must keep the mount.
      await ok(['cp', path.join(dir, 'copied.txt'), 'cp-writer:/data/copied.txt']);
      await ok(['cp', path.join(dir, 'copied.txt'), 'cp-writer:/data/copied-again.txt']);
      expect(await ok(['exec', 'cp-writer', 'cat', '/data/copied.txt'])).toBe('copied from the host\n');
      expect(mountedHere('cpvol')).toBe(true);
      await expectStillWriting(setup!.dockerd, 'cp-writer', '/data/n');
      // And out again.
      await ok(['cp', 'cp-writer:/data/copied-again.txt', path.join(dir, 'back.txt')]);
      expect(fs.readFileSync(path.join(dir, 'back.txt'), 'utf8')).toBe('copied from the host\n');
      await expectStillWriting(setup!.dockerd, 'cp-writer', '/data/n');
    } finally {
      await stop('cp-writer');
    }
    expect(await run(['-v', 'cpvol:/data', IMAGE, 'cat', '/data/copied.txt', '/data/copied-again.txt'])).toBe('copied from the host\n'.repeat(2));
    await remove('cp-writer');
    await ok(['volume', 'rm', 'cpvol']);
  }, 5 * 60_000);

  scenario('--volumes-from gives a second container the same volume; its exit leaves the first one writing', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'vfvol']);
    await startWriter('vf-source', 'vfvol', 'n');
    try {
      await expectStillWriting(setup!.dockerd, 'vf-source', '/data/n');
      const friend = await run(['--volumes-from', 'vf-source', IMAGE, 'sh', '-c', 'echo from-friend > /data/friend && grep " /data " /proc/mounts']);
      expect(friend).toMatch(/ \/data ext4 /);
      expect(await ok(['exec', 'vf-source', 'cat', '/data/friend'])).toBe('from-friend\n');
      expect(mountedHere('vfvol')).toBe(true);
      await expectStillWriting(setup!.dockerd, 'vf-source', '/data/n');
    } finally {
      await stop('vf-source');
    }
    await remove('vf-source');
    await ok(['volume', 'rm', 'vfvol']);
  }, 5 * 60_000);

  scenario('docker run -v newname --volume-driver creates the volume with the defaults', async () => {
    const write = await run(['-v', 'implicit:/data', '--volume-driver', 'berth/ebs', IMAGE, 'sh', '-c', 'echo made-by-run > /data/f && grep " /data " /proc/mounts']);
    expect(write).toMatch(/ \/data ext4 /);
    // Released within the release delay after the container's short use.
    await waitFor('implicit to be released', async () => (await inspect('implicit')).Status.state === 'available', { timeoutMs: 15_000 });
    const volume = await inspect('implicit');
    expect(volume.Driver).toBe(PLUGIN);
    expect(volume.Scope).toBe('global');
    expect(volume.Status).toEqual(expect.objectContaining({ sizeGiB: 16, volumeType: 'gp3', fsType: 'ext4', formatted: true, state: 'available' }));
    expect(await run(['-v', 'implicit:/data', IMAGE, 'cat', '/data/f'])).toBe('made-by-run\n');
    await ok(['volume', 'rm', 'implicit']);
    expect(await endpointVolumesTagged(setup!.ec2, 'berth:name', 'implicit')).toEqual([]);
  }, 5 * 60_000);

  scenario('an anonymous volume of docker run --rm is removed with its container, and its EBS volume deleted', async () => {
    const since = await lastCallSeq(setup!.ec2);
    const before = new Set((await endpointVolumes(setup!.ec2)).map((v) => v.id));
    const write = await run(['-v', '/data', '--volume-driver', 'berth/ebs', IMAGE, 'sh', '-c', 'echo anon > /data/f && grep " /data " /proc/mounts']);
    expect(write).toMatch(/ \/data ext4 /);

    expect((await listed()).filter((line) => /^\S+ [0-9a-f]{64}$/.test(line))).toEqual([]);
    expect((await callsSince(setup!.ec2, since, 'CreateVolume')).map((call) => call.result)).toEqual(['ok']);
    await waitFor('the EBS volume to be deleted', async () => (await callsSince(setup!.ec2, since, 'DeleteVolume')).length > 0, { timeoutMs: 10_000 });
    const deletes = await callsSince(setup!.ec2, since, 'DeleteVolume');
    expect(deletes.map((call) => call.result)).toEqual(['ok']);
    expect(before.has(deletes[0].volumeId!)).toBe(false);
    expect((await endpointVolumes(setup!.ec2)).map((v) => v.id).sort()).toEqual([...before].sort());
  }, 5 * 60_000);

  scenario('volume rm of a volume in use is refused, and the container keeps writing', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'inuse']);
    await startWriter('inuse-writer', 'inuse', 'n');
    try {
      await expectStillWriting(setup!.dockerd, 'inuse-writer', '/data/n');
      const refused = await docker(['volume', 'rm', 'inuse']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/in use/);
      expect(await listed()).toContain(`${PLUGIN} inuse`);
      await expectStillWriting(setup!.dockerd, 'inuse-writer', '/data/n');
    } finally {
      await stop('inuse-writer');
    }
    await remove('inuse-writer');
    await ok(['volume', 'rm', 'inuse']);
  }, 5 * 60_000);

  scenario("bad options are refused with the plugin's message, and nothing is created in EC2", async () => {
    const since = await lastCallSeq(setup!.ec2);
    const badSize = await docker(['volume', 'create', '--driver', PLUGIN, '-o', 'size=lots', 'badvol']);
    expect(badSize.code).not.toBe(0);
    expect(badSize.stderr).toMatch(/size: "lots" is not a whole number of GiB/);
    const typo = await docker(['volume', 'create', '--driver', PLUGIN, '-o', 'sise=2', 'badvol']);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/"sise" \(did you mean size\?\)/);
    const badName = await docker(['volume', 'create', '--driver', PLUGIN, '..']);
    expect(badName.code).not.toBe(0);
    expect(await listed()).not.toContain(`${PLUGIN} badvol`);
    expect(await callsSince(setup!.ec2, since, 'CreateVolume')).toEqual([]);
  }, 2 * 60_000);

  scenario('docker plugin disable is refused while volumes of the plugin exist', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'holder']);
    const refused = await docker(['plugin', 'disable', PLUGIN]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/in use/);
    expect((await ok(['plugin', 'inspect', '--format', '{{.Enabled}}', PLUGIN])).trim()).toBe('true');
    await ok(['volume', 'rm', 'holder']);
  }, 2 * 60_000);

  scenario('docker volume prune leaves berth volumes alone (Docker prunes only its local driver); volume rm deletes the EBS volume', async () => {
    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'unused']);
    const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'unused');
    const since = await lastCallSeq(setup!.ec2);
    // Docker's prune (every version, `--filter all=true` included) only ever removes volumes of the local driver.
    const pruned = await ok(['volume', 'prune', '--force']);
    expect(pruned).not.toMatch(/^unused$/m);
    expect(await listed()).toContain(`${PLUGIN} unused`);
    // Since Docker 23 (API 1.42) prune removes only anonymous volumes unless --all is given: with it too.
    if (Number((await ok(['version', '--format', '{{.Server.APIVersion}}'])).trim()) >= 1.42) {
      expect(await ok(['volume', 'prune', '--all', '--force'])).not.toMatch(/^unused$/m);
      expect(await listed()).toContain(`${PLUGIN} unused`);
    }
    expect(await callsSince(setup!.ec2, since, 'DeleteVolume')).toEqual([]);

    // EBS_REMOVE unset: docker volume rm deletes berth's own EBS volume.
    await ok(['volume', 'rm', 'unused']);
    expect(await listed()).not.toContain(`${PLUGIN} unused`);
    expect((await callsSince(setup!.ec2, since, 'DeleteVolume')).map((call) => [call.volumeId, call.result])).toEqual([[ebs.id, 'ok']]);
    expect((await endpointVolumes(setup!.ec2)).map((v) => v.id)).not.toContain(ebs.id);
  }, 5 * 60_000);

  scenario('with EBS_REMOVE=retain, volume rm keeps the EBS volume, tagged berth:retired; the name is free again', async () => {
    // Settings change only while the plugin is disabled, which it may be only once no volume of it exists.
    expect(await listed()).toEqual([]);
    await ok(['plugin', 'disable', PLUGIN]);
    await ok(['plugin', 'set', PLUGIN, 'EBS_REMOVE=retain']);
    await ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);

    await ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'kept']);
    await run(['-v', 'kept:/data', IMAGE, 'sh', '-c', 'echo precious > /data/f']);
    const [ebs] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'kept');
    const since = await lastCallSeq(setup!.ec2);
    await ok(['volume', 'rm', 'kept']);
    expect(await listed()).toEqual([]);
    expect(await callsSince(setup!.ec2, since, 'DeleteVolume')).toEqual([]);

    const retained = (await endpointVolumes(setup!.ec2)).find((volume) => volume.id === ebs.id);
    expect(retained).toBeDefined();
    expect(retained!.lifecycle).toBe('available');
    expect(retained!.tags['berth:retired']).toMatch(/^retained kept /);
    expect(retained!.tags['berth:name']).toBeUndefined();

    // The name is free: a volume of that name is a new, empty EBS volume.
    expect(await run(['-v', 'kept:/data', '--volume-driver', 'berth/ebs', IMAGE, 'ls', '-A', '/data'])).toBe('');
    const [fresh] = await endpointVolumesTagged(setup!.ec2, 'berth:name', 'kept');
    expect(fresh.id).not.toBe(ebs.id);
    await ok(['volume', 'rm', 'kept']);
  }, 5 * 60_000);
});
