/**
 * Migration from REX-Ray: berth pulled from a registry and installed under the name users' scripts already use
 * (`--alias rexray/ebs`), on a machine where rexray/ebs left a volume behind (only a Name tag, an ext4 filesystem
 * with the data under /data). With EBS_ADOPTREXRAY=true berth serves it, data and all; without, it does not see it.
 */
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommandOk } from '../support/commands';
import { missingDocker, missingRegistry, startRegistry, type Registry } from '../support/dockerd';
import { TEST_ACCESS_KEY, TEST_SECRET_KEY } from '../support/local-ec2';
import { mountsUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { cleanUp, dockerOk, endpointVolumes, IMAGE, setupTeardown, startSetup, type E2eSetup } from './environment';
import { buildPluginDir, pushPlugin, removeAllContainers, removePlugin } from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);
const ALIAS = 'rexray/ebs:latest';
const OLD_FILE = 'written by rexray/ebs before the migration\n';

const must = (command: string, args: string[]) => runCommandOk(command, args, { timeoutMs: 60_000 });

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'migration from rexray/ebs', () => {
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let registry: Registry | undefined;
  let pluginId: string | undefined;
  let oldVolumeId = '';
  let rexrayMount: string | undefined;

  const ok = (args: string[], timeoutMs?: number) => dockerOk(setup!.dockerd, pluginId, args, timeoutMs);
  const run = (args: string[]) => ok(['run', '--rm', '--network', 'none', ...args]);
  const listed = async () => (await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim().split('\n').filter(Boolean);

  /** What a REX-Ray host left: a volume with only REX-Ray's Name tag, ext4, files under /data (mode 0700). */
  async function leaveRexrayVolume(name: string): Promise<string> {
    const instance = setup!.instance;
    const ec2 = new EC2Client({
      endpoint: setup!.ec2.ec2,
      region: instance.az.slice(0, -1),
      credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET_KEY },
    });
    const describe = async (id: string): Promise<Volume> =>
      (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes![0];
    try {
      const created = await ec2.send(
        new CreateVolumeCommand({
          Size: 1,
          AvailabilityZone: instance.az,
          VolumeType: 'gp2',
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: name }] }],
        }),
      );
      const id = created.VolumeId!;
      await waitFor('the volume to be available', async () => (await describe(id)).State === 'available', { timeoutMs: 30_000 });
      await ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: instance.id, Device: '/dev/xvdf' }));
      const link = path.join(instance.devdir, 'xvdf');
      await waitFor('the volume to be attached', async () => (await describe(id)).Attachments?.[0]?.State === 'attached' && fs.existsSync(link), { timeoutMs: 30_000 });

      // REX-Ray's own steps: mkfs.ext4 on a device with no filesystem, mount, data/ with mode 0700.
      await must('mkfs.ext4', ['-q', '-F', link]);
      rexrayMount = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-rexray-'));
      await must('mount', ['-t', 'ext4', link, rexrayMount]);
      try {
        fs.mkdirSync(path.join(rexrayMount, 'data'), { mode: 0o700 });
        fs.writeFileSync(path.join(rexrayMount, 'data/hello.txt'), OLD_FILE);
      } finally {
        await must('umount', [rexrayMount]);
      }
      await ec2.send(new DetachVolumeCommand({ VolumeId: id }));
      await waitFor('the volume to be detached', async () => (await describe(id)).State === 'available', { timeoutMs: 30_000 });
      return id;
    } finally {
      ec2.destroy();
    }
  }

  beforeAll(async () => {
    const built = await buildPluginDir();
    setup = await startSetup();
    registry = await startRegistry();
    await pushPlugin(setup.dockerd, built.dir, `${registry.address}/berth/ebs:latest`);
    oldVolumeId = await leaveRexrayVolume('oldvol');
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await cleanUp([
        ['containers', () => setup && removeAllContainers(setup.dockerd)],
        ['plugin', () => setup && removePlugin(setup.dockerd, ALIAS)],
        ['REX-Ray mount', async () => rexrayMount && mountsUnder([rexrayMount]).length > 0 && (await must('umount', ['-l', rexrayMount]))],
        ...setupTeardown(setup),
        ['registry', () => registry?.stop()],
        ['temp dirs', () => rexrayMount && fs.rmSync(rexrayMount, { recursive: true, force: true })],
      ]);
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('docker plugin install --alias rexray/ebs from a registry: enabled under the old name; without EBS_ADOPTREXRAY the REX-Ray volume is not seen', async () => {
    const settings = Object.entries({ ...setup!.endpointSettings, EBS_ADOPTREXRAY: 'false' }).map(([key, value]) => `${key}=${value}`);
    await ok(['plugin', 'install', '--grant-all-permissions', '--alias', 'rexray/ebs', `${registry!.address}/berth/ebs:latest`, ...settings], 5 * 60_000);
    pluginId = (await ok(['plugin', 'inspect', '--format', '{{.Id}}', ALIAS])).trim();
    expect((await ok(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}'])).trim()).toBe(`${ALIAS} true`);

    expect(await listed()).toEqual([]);
    const inspected = await setup!.dockerd.docker(['volume', 'inspect', 'oldvol']);
    expect(inspected.code).not.toBe(0);
    expect(inspected.stderr).toMatch(/no such volume/i);
  }, 10 * 60_000);

  scenario('with EBS_ADOPTREXRAY=true, docker run -v oldvol shows the files REX-Ray left; berth adds no tag and volume rm keeps it', async () => {
    await ok(['plugin', 'disable', ALIAS]);
    await ok(['plugin', 'set', ALIAS, 'EBS_ADOPTREXRAY=true']);
    await ok(['plugin', 'enable', '--timeout', '120', ALIAS]);

    expect(await listed()).toEqual([`${ALIAS} oldvol`]);
    const [inspected] = JSON.parse(await ok(['volume', 'inspect', 'oldvol'])) as Array<{ Status: Record<string, unknown> }>;
    expect(inspected.Status).toEqual(expect.objectContaining({ volumeId: oldVolumeId, adoptedFrom: 'rexray', fsType: 'ext4' }));

    // The same command lines as with REX-Ray: its files are there, under the same layout.
    expect(await run(['-v', 'oldvol:/data', '--volume-driver', 'rexray/ebs', IMAGE, 'cat', '/data/hello.txt'])).toBe(OLD_FILE);
    await run(['-v', 'oldvol:/data', IMAGE, 'sh', '-c', 'echo written by berth > /data/new.txt']);
    expect(await run(['-v', 'oldvol:/data', IMAGE, 'cat', '/data/hello.txt', '/data/new.txt'])).toBe(`${OLD_FILE}written by berth\n`);

    // berth served it as it is: never formatted, no berth tag added, released after use (within the release delay).
    await waitFor('oldvol to be detached', async () => !(await endpointVolumes(setup!.ec2)).find((volume) => volume.id === oldVolumeId)?.attachment, { timeoutMs: 15_000 });
    let [ebs] = (await endpointVolumes(setup!.ec2)).filter((volume) => volume.id === oldVolumeId);
    expect(ebs.tags).toEqual({ Name: 'oldvol' });
    expect(ebs.attachment).toBeUndefined();

    // EBS_REMOVE unset: an adopted REX-Ray volume is retained, not deleted.
    await ok(['volume', 'rm', 'oldvol']);
    expect(await listed()).toEqual([]);
    [ebs] = (await endpointVolumes(setup!.ec2)).filter((volume) => volume.id === oldVolumeId);
    expect(ebs).toBeDefined();
    expect(ebs.tags['berth:retired']).toMatch(/^retained oldvol /);
  }, 10 * 60_000);
});
