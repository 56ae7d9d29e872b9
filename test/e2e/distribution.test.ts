/**
 * Distribution as users get it: `make push` puts the plugin in a registry under its version and `latest`;
 * `make install` on another engine pulls it, applies settings, enables it under the alias berth/ebs, and it serves
 * volumes. Registry and engines are private and on loopback.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { runCommand } from '../support/commands';
import { missingDocker, missingRegistry, startDockerd, startRegistry, type Dockerd, type Registry } from '../support/dockerd';
import { startLocalEc2, TEST_ACCESS_KEY, TEST_SECRET_KEY, type LocalEc2 } from '../support/local-ec2';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { buildPluginDir, pluginLog, removePlugin, REPO } from './plugin-harness';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);
const VERSION = (JSON.parse(fs.readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string }).version;

/** `make TARGET VAR=...` in the repository against one engine; `deps` (npm ci) is taken as done. */
async function make(dockerd: Dockerd, args: string[]) {
  const out = await runCommand('make', ['--no-print-directory', '-C', REPO, '-o', 'deps', ...args], { env: dockerd.env, timeoutMs: 10 * 60_000 });
  if (out.code !== 0) throw new Error(`make ${args.join(' ')}: exit ${out.code}\n${out.stdout}${out.stderr}`);
  return out.stdout;
}

describeWhen(missingDocker() ?? missingRegistry() ?? missingRootAndLoop(), 'plugin distribution through a registry', () => {
  let registry: Registry | undefined;
  let builder: Dockerd | undefined;
  let user: Dockerd | undefined;
  let ec2: LocalEc2 | undefined;
  const devdir = `/dev/bt-e2e-${crypto.randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    await buildPluginDir();
    registry = await startRegistry();
    builder = await startDockerd();
  }, 25 * 60_000);

  afterAll(async () => {
    const problems: string[] = [];
    try {
      if (user) problems.push(...(await removePlugin(user, 'berth/ebs:latest')));
    } finally {
      for (const stop of [() => user?.stop(), () => builder?.stop(), () => registry?.stop(), () => ec2?.destroy()]) {
        try {
          await stop();
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      fs.rmSync(devdir, { recursive: true, force: true });
      printTimings();
    }
    if (problems.length > 0) throw new Error(`cleanup: ${problems.join('\n')}`);
  }, 5 * 60_000);

  scenario('make push publishes the version and latest (and their -amd64 twins), leaving no plugin behind on the building engine', async () => {
    await make(builder!, ['push', `REGISTRY=${registry!.address}`]);
    const tags = (await (await fetch(`http://${registry!.address}/v2/berth/ebs/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual([VERSION, 'latest', `${VERSION}-amd64`, 'latest-amd64'].sort());
    expect((await builder!.dockerOk(['plugin', 'ls', '--quiet'])).trim()).toBe('');
  }, 10 * 60_000);

  scenario('make install on another engine enables it as berth/ebs with the given settings, and it serves volumes', async () => {
    fs.mkdirSync(devdir);
    ec2 = await startLocalEc2([`devdir=${devdir}`]);
    user = await startDockerd();
    const settings = [
      `EBS_ENDPOINT=${ec2.ec2}`,
      `AWS_EC2_METADATA_SERVICE_ENDPOINT=${ec2.instances[0].imds}`,
      `EBS_ACCESSKEY=${TEST_ACCESS_KEY}`,
      `EBS_SECRETKEY=${TEST_SECRET_KEY}`,
      `EBS_DEVICEDIR=${devdir}`,
    ];
    await make(user, ['install', `REGISTRY=${registry!.address}`, `PLUGIN_SETTINGS=${settings.join(' ')}`]);

    const listed = await user.dockerOk(['plugin', 'ls', '--format', '{{.Name}} {{.Enabled}}']);
    expect(listed.trim()).toBe('berth/ebs:latest true');
    const env = await user.dockerOk(['plugin', 'inspect', '--format', '{{json .Settings.Env}}', 'berth/ebs']);
    expect(JSON.parse(env)).toEqual(expect.arrayContaining([`EBS_ENDPOINT=${ec2.ec2}`, `EBS_DEVICEDIR=${devdir}`]));

    const id = (await user.dockerOk(['plugin', 'inspect', '--format', '{{.Id}}', 'berth/ebs'])).trim();
    const created = await user.docker(['volume', 'create', '--driver', 'berth/ebs', 'shipped'], { timeoutMs: 150_000 });
    if (created.code !== 0) throw new Error(`volume create: ${created.stderr}\n${pluginLog(user, id)}`);
    expect((await user.dockerOk(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])).trim()).toBe('berth/ebs:latest shipped');
    await user.dockerOk(['volume', 'rm', 'shipped'], { timeoutMs: 150_000 });
  }, 10 * 60_000);
});
