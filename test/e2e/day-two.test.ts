/**
 * Day two through the real stack: the managed plugin in a private dockerd, the local EC2 endpoint, the berth CLI
 * linked from the plugin's rootfs exactly as the README says. A gp2 volume a container writes is modified to gp3 and
 * grown while the writes go on, and df inside the container shows the new size; a snapshot restores into a new
 * volume with identical data; a volume another instance holds is refused, then force-released with the old writer
 * fenced, and released at once once that instance stopped; doctor passes on this set-up and names each fault;
 * the metrics agree with the endpoint's call log.
 */
import { AttachVolumeCommand, EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand, runCommandOk, type CommandOutput } from '../support/commands';
import { missingDocker } from '../support/dockerd';
import { TEST_ACCESS_KEY, TEST_SECRET_KEY } from '../support/local-ec2';
import { waitFor } from '../support/poll';
import { describeWhen, missingRootAndLoop } from '../support/privileges';
import { stopChild } from '../support/processes';
import { parseSamples, sampleValue } from '../support/prometheus';
import { freeLoopbackPort } from '../support/sockets';
import { endpointVolumesTagged, IMAGE, PLUGIN } from './environment';
import { buildPluginDir } from './plugin-harness';
import { PluginSession } from './plugin-session';
import { printTimings, timedScenarios } from './timings';

const scenario = timedScenarios(__filename);
const README = path.resolve(__dirname, '../../README.md');
const OTHER_INSTANCE = 'i-0d2e0000000000002';
/** EC2-like for what day two waits on; the rest stays quick. */
const ENDPOINT_DELAYS = 'modify=5s,snapshot=2s,instance=1s';

/** The README's one command that links the plugin's CLI into the host's PATH, pointed at `target` instead. */
function readmeLinkCommand(target: string): string {
  const line = fs.readFileSync(README, 'utf8').split('\n').find((text) => text.startsWith('sudo ln -sf "$(docker info'));
  if (!line) throw new Error('README.md has no "sudo ln -sf" line linking the CLI');
  return line.replace(/^sudo /, '').replace(/ \/usr\/local\/bin\/berth$/, ` ${target}`);
}

describeWhen(missingDocker() ?? missingRootAndLoop(), 'day two through the managed plugin and the berth CLI', () => {
  const session = new PluginSession();
  let metricsAddress = '';
  let cliLink = '';
  let ec2: EC2Client;
  const hostMounts: string[] = [];
  const tempDirs: string[] = [];
  const processes: ChildProcess[] = [];

  const berth = (args: string[]): Promise<CommandOutput> => runCommand(cliLink, args, { env: { ...session.setup.dockerd.env, PATH: process.env.PATH }, timeoutMs: 180_000 });
  const berthJson = async (args: string[]) => {
    const out = await berth([...args, '--json']);
    if (out.code !== 0) throw new Error(`berth ${args.join(' ')}: exit ${out.code}: ${out.stderr}`);
    return JSON.parse(out.stdout);
  };
  /** The size of the filesystem a container sees at /data, from df inside it, in GiB. */
  const containerDfGiB = async (container: string) => {
    const out = await session.ok(['exec', container, 'df', '-k', '/data']);
    return Number(out.trim().split('\n').pop()!.trim().split(/\s+/)[1]) / 1024 ** 2;
  };
  /** After a short use berth keeps a volume attached for EBS_RELEASEDELAY: wait until it let go. */
  const detachedEverywhere = (name: string) =>
    waitFor(`${name} to be detached`, async () => !(await endpointVolumesTagged(session.setup.ec2, 'berth:name', name))[0]?.attachment, { timeoutMs: 15_000 });
  const volumeId = async (name: string) => (await endpointVolumesTagged(session.setup.ec2, 'berth:name', name))[0].id;

  beforeAll(async () => {
    const built = await buildPluginDir();
    metricsAddress = `127.0.0.1:${await freeLoopbackPort()}`;
    await session.start(built.dir, {
      otherInstances: [`id=${OTHER_INSTANCE},az=us-east-1a`],
      endpointArgs: ['--delays', ENDPOINT_DELAYS],
      settings: { EBS_METRICSADDR: metricsAddress },
    });
    ec2 = new EC2Client({ region: 'us-east-1', endpoint: session.setup.ec2.ec2, credentials: { accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET_KEY } });
    const cliDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-cli-'));
    tempDirs.push(cliDir);
    cliLink = path.join(cliDir, 'berth');
    await runCommandOk('sh', ['-c', readmeLinkCommand(cliLink)], { env: session.setup.dockerd.env });
  }, 25 * 60_000);

  afterAll(async () => {
    try {
      await Promise.all(processes.map((child) => stopChild(child).catch(() => undefined)));
      for (const target of hostMounts.reverse()) execFileSync('umount', ['-l', target], { stdio: 'ignore' });
      for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
      ec2?.destroy();
      await session.cleanUp();
    } finally {
      printTimings();
    }
  }, 5 * 60_000);

  scenario('the metrics count what the endpoint logged, and each step of a volume\'s life', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'counted']);
    await session.run(['-v', 'counted:/data', IMAGE, 'sh', '-c', 'echo hi > /data/f']);
    await session.ok(['volume', 'rm', 'counted']);
    for (let attempt = 1; ; attempt++) {
      const before = (await session.setup.ec2.admin('GET', 'calls')) as Array<{ action: string; result: string }>;
      const samples = parseSamples(await (await fetch(`http://${metricsAddress}/metrics`)).text());
      const after = (await session.setup.ec2.admin('GET', 'calls')) as Array<{ action: string }>;
      if (after.length !== before.length && attempt < 5) continue;
      const counted = Object.fromEntries(
        samples.filter((sample) => sample.name === 'berth_ec2_requests_total').map((sample) => [`${sample.labels.action} ${sample.labels.outcome}`, sample.value]),
      );
      const logged = before.reduce<Record<string, number>>((tally, call) => ({ ...tally, [`${call.action} ${call.result}`]: (tally[`${call.action} ${call.result}`] ?? 0) + 1 }), {});
      expect(counted).toEqual(logged);
      const steps = (step: string) => sampleValue(samples, 'berth_volume_step_duration_seconds_count', { step });
      expect(['create', 'attach', 'format', 'mount', 'detach', 'delete'].map((step) => [step, steps(step) > 0])).toEqual(
        ['create', 'attach', 'format', 'mount', 'detach', 'delete'].map((step) => [step, true]),
      );
      break;
    }
  }, 5 * 60_000);

  scenario('the CLI linked as the README says finds the plugin through Docker', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'listed']);
    const { volumes } = await berthJson(['volume', 'ls']);
    expect(volumes.map((volume: { name: string }) => volume.name)).toContain('listed');
    const table = await berth(['volume', 'ls']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+VOLUME ID/);
    expect(table.stdout).toMatch(/\nlisted\s+vol-/);
    await session.ok(['volume', 'rm', 'listed']);
  }, 5 * 60_000);

  scenario('gp2 to gp3, grown while a container writes: xfs online, df in the container shows the new size', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', '--opt', 'type=gp2', '--opt', 'fstype=xfs', 'growing']);
    await session.startWriter('growing-writer', 'growing');
    await session.stillWriting('growing-writer');
    expect(await containerDfGiB('growing-writer')).toBeLessThan(1.01);

    const started = Date.now();
    const result = await berthJson(['volume', 'modify', 'growing', '--type', 'gp3', '--size', '3']);
    const seconds = (Date.now() - started) / 1000;
    expect(result).toMatchObject({ filesystem: 'grown', volume: { sizeGiB: 3, volumeType: 'gp3', mountedHere: true, users: 1 } });
    expect(await containerDfGiB('growing-writer')).toBeGreaterThan(2.9);
    await session.stillWriting('growing-writer');
    process.stderr.write(`resize to the new size in the container, modify delay ${ENDPOINT_DELAYS}: ${seconds.toFixed(1)} s\n`);
    await session.ok(['rm', '--force', 'growing-writer']);
    await session.ok(['volume', 'rm', 'growing']);
  }, 5 * 60_000);

  scenario('an ext4 volume grows at its next mount in the managed plugin, and the command says why', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'later']);
    await session.startWriter('later-writer', 'later');
    await session.stillWriting('later-writer');
    const result = await berthJson(['volume', 'resize', 'later', '2']);
    expect(result).toMatchObject({ filesystem: 'at-next-mount', volume: { sizeGiB: 2 } });
    expect(result.message).toMatch(/CAP_SYS_RESOURCE/);
    await session.stillWriting('later-writer');
    await session.ok(['restart', '--time', '5', 'later-writer']);
    await session.stillWriting('later-writer');
    expect(await containerDfGiB('later-writer')).toBeGreaterThan(1.9);
    await session.ok(['rm', '--force', 'later-writer']);
    await session.ok(['volume', 'rm', 'later']);
  }, 5 * 60_000);

  scenario('a snapshot restores into a new volume with identical data', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'original']);
    const written = await session.run(['-v', 'original:/data', IMAGE, 'sh', '-c', 'head -c 4194304 /dev/urandom > /data/blob && sync && sha256sum /data/blob']);
    const snapshot = await berthJson(['snapshot', 'create', 'original', '--tag', 'purpose=before-upgrade']);
    expect(snapshot).toMatchObject({ volume: 'original', state: 'completed', progress: 100 });
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', `snapshot=${snapshot.snapshotId}`, 'copy']);
    expect(await session.run(['-v', 'copy:/data', IMAGE, 'sha256sum', '/data/blob'])).toBe(written);
    expect((await berthJson(['snapshot', 'ls', 'original'])).snapshots).toHaveLength(1);
    await berthJson(['snapshot', 'rm', snapshot.snapshotId]);
    await session.ok(['volume', 'rm', 'original', 'copy']);
  }, 5 * 60_000);

  scenario('a volume another instance holds: refused while it runs, forced with its writer fenced, released at once once it stopped', async () => {
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'stranded']);
    await session.run(['-v', 'stranded:/data', IMAGE, 'sh', '-c', 'echo from-here > /data/mark']);
    const id = await volumeId('stranded');
    await detachedEverywhere('stranded');
    const other = session.setup.ec2.instances.find((instance) => instance.id === OTHER_INSTANCE)!;
    // The other host's container: the volume attached there, mounted, and written to.
    await ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: OTHER_INSTANCE, Device: '/dev/xvdf' }));
    const device = path.join(other.devdir, 'xvdf');
    await waitFor('the other instance\'s device', () => fs.existsSync(device), { timeoutMs: 30_000 });
    const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-other-'));
    tempDirs.push(mountpoint);
    execFileSync('mount', [device, mountpoint]);
    hostMounts.push(mountpoint);
    const script = `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(path.join(mountpoint, 'journal'))},'a');setInterval(()=>{try{fs.writeSync(fd,'x\\n');fs.fsyncSync(fd)}catch(e){process.exit(3)}},50)`;
    const writer = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    processes.push(writer);

    const refused = await berth(['volume', 'release', 'stranded']);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`attached to instance ${OTHER_INSTANCE}, which is running`);
    expect(await berthJson(['volume', 'release', 'stranded', '--force'])).toMatchObject({ releasedFrom: OTHER_INSTANCE, holderState: 'running', forced: true });
    await waitFor('the old writer to be fenced', () => writer.exitCode === 3, { timeoutMs: 20_000 });
    execFileSync('umount', ['-l', mountpoint]);
    hostMounts.splice(hostMounts.indexOf(mountpoint), 1);
    expect(await session.run(['-v', 'stranded:/data', IMAGE, 'cat', '/data/mark'])).toBe('from-here\n');

    await detachedEverywhere('stranded');
    await ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: OTHER_INSTANCE, Device: '/dev/xvdf' }));
    await waitFor('attached to the other instance', async () => (await berthJson(['volume', 'inspect', 'stranded'])).attachedTo === OTHER_INSTANCE, { timeoutMs: 30_000 });
    await ec2.send(new StopInstancesCommand({ InstanceIds: [OTHER_INSTANCE] }));
    const released = await waitFor('release once the other instance stopped', async () => {
      const out = await berth(['volume', 'release', 'stranded', '--json']);
      return out.code === 0 ? JSON.parse(out.stdout) : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    expect(released).toMatchObject({ releasedFrom: OTHER_INSTANCE, holderState: 'stopped', forced: false });
    await session.ok(['volume', 'rm', 'stranded']);
  }, 5 * 60_000);

  scenario('doctor passes here, and names a denied action, a hop limit that drops tokens, missing metadata and a wrong device dir', async () => {
    const failures = async () => {
      const out = await berth(['doctor', '--json']);
      const { checks } = JSON.parse(out.stdout) as { checks: Array<{ name: string; outcome: string }> };
      return { code: out.code, failed: checks.filter((check) => check.outcome === 'fail').map((check) => check.name), checks };
    };
    // The IAM checks of actions on one volume ask about one of berth's (a policy may allow only those).
    await session.ok(['volume', 'create', '--driver', PLUGIN, '--opt', 'size=1', 'checked']);
    const good = await failures();
    expect(good.failed).toEqual([]);
    expect(good.code).toBe(0);
    expect(good.checks.find((check) => check.name === 'mount-propagation')?.outcome).toBe('pass');
    const human = await berth(['doctor']);
    expect(human.stdout).toMatch(/PASS\s+metadata/);

    await session.setup.ec2.admin('POST', 'faults', { deny: ['ModifyVolume'] });
    expect(await failures()).toMatchObject({ code: 1, failed: ['iam:ModifyVolume'] });
    await session.setup.ec2.admin('POST', 'faults', { imdsClientHops: 2 });
    expect((await failures()).failed).toEqual(['imdsv2']);
    await session.setup.ec2.admin('POST', 'faults', {});
    await session.ok(['volume', 'rm', 'checked']);

    const withSettings = async (settings: Record<string, string>) => {
      await session.ok(['plugin', 'disable', '--force', PLUGIN]);
      await session.ok(['plugin', 'set', PLUGIN, ...Object.entries(settings).map(([key, value]) => `${key}=${value}`)]);
      await session.ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
      return waitFor('doctor to answer', async () => {
        const found = await failures().catch(() => undefined);
        return found && found.checks.length > 0 ? found : undefined;
      }, { timeoutMs: 30_000, intervalMs: 500 });
    };
    const broken = await withSettings({ EBS_DEVICEDIR: '/var/empty-device-dir', AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9', EBS_CALLTIMEOUT: '1s' });
    expect(broken.failed).toEqual(expect.arrayContaining(['berth', 'metadata', 'device-dir']));
    expect(broken.code).toBe(1);
  }, 8 * 60_000);
});
