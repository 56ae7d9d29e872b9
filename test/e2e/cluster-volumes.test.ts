/**
 * Swarm cluster volumes through berth/ebs-csi in a one-node swarm of a private dockerd (Docker 28 or later: 26.1
 * cannot use any CSI plugin, 20.10 has no cluster volumes): a cluster volume is created, a service writes to it,
 * the volume is attached only while its task runs and the staging mount goes with the task; a multi-node access
 * mode makes no EBS volume; volume rm deletes it. The three-node scenarios are in the swarm suite.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCommandOk } from '../support/commands';
import { missingCsiEngine, missingDocker } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { freeLoopbackPort } from '../support/sockets';
import { cleanUp, endpointVolumes, endpointVolumesTagged, IMAGE, pluginDaemonPids, setupTeardown, startSetup, type E2eSetup } from './environment';
import { buildPluginDir, installPlugin, pluginLog, removeAllContainers, removePlugin, REPO } from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);
const CSI_PLUGIN = 'berth/ebs-csi:latest';
describeWhen(missingDocker() ?? missingRootAndLoop() ?? missingCsiEngine(), 'Swarm cluster volumes (berth/ebs-csi) in a one-node swarm', () => {
  let setup: (E2eSetup & { devdir: string }) | undefined;
  let pluginId = '';
  const docker = (args: string[], timeoutMs = 120_000) => setup!.dockerd.dockerOk(args, { timeoutMs });
  /** The EBS volume berth made for a cluster volume, from its tags. */
  const ebsVolume = async (name: string) => (await endpointVolumesTagged(setup!.ec2, 'berth:name', name))[0];
  const explain = (err: Error) => new Error(`${err.message}\n--- plugin log ---\n${pluginLog(setup!.dockerd, pluginId, 80)}`);

  beforeAll(async () => {
    const built = await buildPluginDir();
    const csiDir = path.join(REPO, 'build/plugin-csi');
    await runCommandOk(process.execPath, [path.join(REPO, 'plugin/csi-plugin.mjs'), '--from', built.dir, '--out', csiDir], { timeoutMs: 300_000 });
    setup = await startSetup();
    const port = await freeLoopbackPort();
    await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', `127.0.0.1:${port}`, '--data-path-port', String(await freeLoopbackPort())]);
    pluginId = (await installPlugin(setup.dockerd, CSI_PLUGIN, csiDir, setup.endpointSettings)).id;
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await cleanUp([
        ['services', async () => {
          const services = (await setup?.dockerd.docker(['service', 'ls', '--quiet']))?.stdout.split('\n').filter(Boolean) ?? [];
          if (services.length > 0) await docker(['service', 'rm', ...services]);
        }],
        ['containers', () => setup && removeAllContainers(setup.dockerd)],
        ['cluster volumes', async () => {
          const volumes = (await setup?.dockerd.docker(['volume', 'ls', '--cluster', '--quiet']))?.stdout.split('\n').filter(Boolean) ?? [];
          for (const volume of volumes) await setup!.dockerd.docker(['volume', 'rm', '--force', volume]);
        }],
        ['plugin', () => setup && removePlugin(setup.dockerd, CSI_PLUGIN)],
        ['swarm', () => setup?.dockerd.docker(['swarm', 'leave', '--force'])],
        ...setupTeardown(setup),
      ]);
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('a cluster volume is made once, attached while its service runs here, released with it, and deleted by volume rm', async () => {
    await docker(['volume', 'create', '--driver', CSI_PLUGIN, '--type', 'mount', '--sharing', 'onewriter', '--scope', 'single', '--required-bytes', '1G', 'shared-db']);
    const made = await waitFor('EC2 to have the cluster volume', () => ebsVolume('shared-db'), { timeoutMs: 60_000, intervalMs: 500 }).catch((err: Error) => {
      throw explain(err);
    });
    expect(made.tags['berth:namespace']).toBe('default:cluster');
    expect(made.sizeGiB).toBe(1);

    await docker(['service', 'create', '--detach', '--name', 'writer', '--no-resolve-image', '--mount', 'type=cluster,src=shared-db,dst=/data', IMAGE, 'sh', '-c', 'while true; do date >> /data/journal; sync; sleep 0.2; done']);
    const container = await waitFor('the writer task to run', async () => (await docker(['ps', '--quiet', '--filter', 'label=com.docker.swarm.service.name=writer'])).trim(), { timeoutMs: 120_000, intervalMs: 1000 }).catch((err: Error) => {
      throw explain(err);
    });
    await waitFor('the task to write', async () => Number((await docker(['exec', container, 'wc', '-l', '/data/journal'])).trim().split(/\s+/)[0]) > 3, { timeoutMs: 30_000, intervalMs: 500, retryErrors: true });
    expect((await ebsVolume('shared-db')).attachment?.instanceId).toBe(setup!.instance.id);

    await docker(['service', 'rm', 'writer']);
    await waitFor('the volume to be detached once its task is gone', async () => !(await ebsVolume('shared-db')).attachment, { timeoutMs: 60_000, intervalMs: 500 }).catch((err: Error) => {
      throw explain(err);
    });
    // What berth mounted (the staging mount, the task's bind) is gone, in the plugin's own mount namespace too; the
    // host keeps only Docker's own mount of the propagated folder.
    const pluginRoot = path.join(setup!.dockerd.dataRoot, 'plugins', pluginId);
    expect(mountsUnder([pluginRoot]).filter((target) => target !== path.join(pluginRoot, 'propagated-mount'))).toEqual([]);
    const [pid] = pluginDaemonPids(pluginId);
    const pluginMounts = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((line) => line.split(' ')[4] ?? '');
    expect(pluginMounts.filter((target) => target.startsWith('/data/staged/') || target.startsWith('/data/published/'))).toEqual([]);

    await waitFor('docker volume rm to succeed', async () => (await setup!.dockerd.docker(['volume', 'rm', 'shared-db'])).code === 0, { timeoutMs: 60_000, intervalMs: 1000 });
    await waitFor('the EBS volume to be deleted', async () => !(await ebsVolume('shared-db')), { timeoutMs: 60_000, intervalMs: 500 });
  }, 6 * 60_000);

  scenario('a multi-node access mode makes no EBS volume, and the plugin says why', async () => {
    const before = (await endpointVolumes(setup!.ec2)).length;
    await docker(['volume', 'create', '--driver', CSI_PLUGIN, '--type', 'mount', '--sharing', 'all', '--scope', 'multi', '--required-bytes', '1G', 'everywhere']);
    await waitFor('the plugin to refuse the access mode', () => /MULTI_NODE_MULTI_WRITER/.test(pluginLog(setup!.dockerd, pluginId, 200)), { timeoutMs: 60_000, intervalMs: 1000 });
    expect((await endpointVolumes(setup!.ec2)).length).toBe(before);
    await docker(['volume', 'rm', '--force', 'everywhere']);
  }, 3 * 60_000);
});
