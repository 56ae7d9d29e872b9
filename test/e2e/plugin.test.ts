/**
 * The managed plugin in a real Docker engine: built from this tree (build/plugin), created and enabled in a
 * private dockerd, pointed at the local EC2 endpoint on loopback, then used by containers as a user would.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { importBusyboxImage, missingDocker, startDockerd, type PrivateDockerd } from '../support/dockerd';
import { startLocalEc2, TEST_ACCESS_KEY, TEST_SECRET_KEY, type LocalEc2 } from '../support/local-ec2';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { buildPluginDir, installPlugin, pluginLog, removePlugin, type BuiltPlugin, type InstalledPlugin } from './plugin-harness';

const PLUGIN = 'berth/ebs:latest';
const IMAGE = 'berth-test/busybox:latest';
const MiB = 1024 * 1024;

describeWhen(missingDocker() ?? missingRootAndLoop(), 'managed plugin in a private dockerd', () => {
  let built: BuiltPlugin;
  let dockerd: PrivateDockerd | undefined;
  let ec2: LocalEc2 | undefined;
  let plugin: InstalledPlugin | undefined;
  // Device links of the simulated instance live under the host's /dev, which the plugin sees through its /dev mount.
  const devdir = `/dev/bt-e2e-${crypto.randomBytes(3).toString('hex')}`;

  const run = (args: string[], timeoutMs = 120_000) => dockerd!.docker(['run', '--rm', '--network', 'none', ...args], { timeoutMs });
  const explain = (what: string, out: { stdout: string; stderr: string; code: number | null }) =>
    `${what}: exit ${out.code}\n${out.stderr}${out.stdout}\n--- plugin log ---\n${plugin ? pluginLog(dockerd!, plugin.id) : ''}`;

  beforeAll(async () => {
    built = await buildPluginDir();
    fs.mkdirSync(devdir);
    ec2 = await startLocalEc2([`devdir=${devdir}`]);
    dockerd = await startDockerd();
    await importBusyboxImage(dockerd, IMAGE);
    plugin = await installPlugin(dockerd, PLUGIN, built.dir, {
      EBS_ENDPOINT: ec2.ec2,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: ec2.instances[0].imds,
      EBS_ACCESSKEY: TEST_ACCESS_KEY,
      EBS_SECRETKEY: TEST_SECRET_KEY,
      EBS_DEVICEDIR: ec2.instances[0].devdir,
      EBS_LOGLEVEL: 'debug',
    });
    process.stderr.write(
      `e2e plugin: rootfs ${(built.rootfsBytes / MiB).toFixed(1)} MiB (${built.rebuilt ? `built in ${built.seconds.toFixed(1)} s` : 'reused'}), ` +
        `dockerd up in ${dockerd.startMs} ms, plugin create ${plugin.createMs} ms, enable ${plugin.enableMs} ms\n`,
    );
  }, 25 * 60_000);

  afterAll(async () => {
    const problems: string[] = [];
    try {
      if (dockerd) problems.push(...(await removePlugin(dockerd, PLUGIN)));
    } finally {
      try {
        await dockerd?.stop();
      } finally {
        try {
          await ec2?.destroy();
        } finally {
          fs.rmSync(devdir, { recursive: true, force: true });
        }
      }
    }
    if (problems.length > 0) throw new Error(`cleanup: ${problems.join('\n')}`);
  }, 5 * 60_000);

  it('is listed as enabled', async () => {
    const listed = await dockerd!.dockerOk(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']);
    expect(listed.trim().split('\n')).toContain(`${PLUGIN} true`);
  });

  it('runs with the settings given by docker plugin set, and only those', async () => {
    const env = JSON.parse(await dockerd!.dockerOk(['plugin', 'inspect', '--format', '{{json .Settings.Env}}', PLUGIN])) as string[];
    expect(env).toContain(`EBS_ENDPOINT=${ec2!.ec2}`);
    expect(env).toContain(`EBS_DEVICEDIR=${devdir}`);
    // Declared without a value and never set: not exported at all (berth then applies its own default).
    expect(env.some((entry) => entry.startsWith('EBS_REGION='))).toBe(false);
  });

  it('gives a container a volume whose data a later container reads back', async () => {
    const created = await dockerd!.docker(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'v1'], { timeoutMs: 150_000 });
    expect(created.code).toBe(0);

    const write = await run(['-v', 'v1:/data', IMAGE, 'sh', '-c', 'echo hi > /data/f && grep " /data " /proc/mounts']);
    if (write.code !== 0) throw new Error(explain('writing container', write));
    // A real block device filesystem, not a directory of the plugin.
    expect(write.stdout).toMatch(/ \/data ext4 /);

    const read = await run(['-v', 'v1:/data', IMAGE, 'cat', '/data/f']);
    if (read.code !== 0) throw new Error(explain('reading container', read));
    expect(read.stdout).toBe('hi\n');

    const removed = await dockerd!.docker(['volume', 'rm', 'v1'], { timeoutMs: 150_000 });
    if (removed.code !== 0) throw new Error(explain('volume rm', removed));
    const volumes = await dockerd!.dockerOk(['volume', 'ls', '--quiet']);
    expect(volumes.split('\n')).not.toContain('v1');
  }, 10 * 60_000);

  it('keeps a volume and its data across a restart of the Docker daemon', async () => {
    await dockerd!.dockerOk(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'kept'], { timeoutMs: 150_000 });
    const write = await run(['-v', 'kept:/data', IMAGE, 'sh', '-c', 'echo before > /data/f']);
    if (write.code !== 0) throw new Error(explain('writing container', write));

    // Docker stops the plugin, starts it again, and asks it (Get) about every volume it knows: one answered with an
    // error would be dropped from Docker's list.
    const restartMs = await dockerd!.restart();
    process.stderr.write(`e2e plugin: dockerd restart with the plugin enabled ${restartMs} ms\n`);
    const listed = await dockerd!.dockerOk(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']);
    expect(listed.trim().split('\n')).toContain(`${PLUGIN} true`);
    const volumes = await dockerd!.dockerOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}']);
    expect(volumes.trim().split('\n')).toContain(`${PLUGIN} kept`);

    const read = await run(['-v', 'kept:/data', IMAGE, 'cat', '/data/f']);
    if (read.code !== 0) throw new Error(explain('reading container after the restart', read));
    expect(read.stdout).toBe('before\n');
    await dockerd!.dockerOk(['volume', 'rm', 'kept'], { timeoutMs: 150_000 });
  }, 10 * 60_000);
});
