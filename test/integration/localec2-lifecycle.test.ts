/**
 * local-ec2 across restarts and as a command: state persists (written atomically), a restarted endpoint
 * re-adopts its attachments (keeps live loop devices and links, re-makes missing ones) and finishes
 * transitions that were under way; `cleanup` removes every loop device and link; the command prints
 * its JSON line first and keeps volumes on SIGTERM; unix-socket listening.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { buildSync } from 'esbuild';
import { describeAsRoot } from '../support/privileges';
import { cleanupLocalEc2 } from '../../src/localec2/cleanup';
import { TEST_KEY, Workspace, ec2Client, instanceId, loopDevicesOf } from './localec2-support';
import { waitFor } from '../support/poll';

const XVD = instanceId(0x41);
const NITRO = instanceId(0x42);

describeAsRoot('local-ec2: restarts, cleanup and the command', () => {
  const workspace = new Workspace();
  const clients: EC2Client[] = [];
  const children: ChildProcessWithoutNullStreams[] = [];
  const client = (url: string) => {
    const made = ec2Client(url);
    clients.push(made);
    return made;
  };

  afterAll(async () => {
    for (const made of clients) made.destroy();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await workspace.teardown();
  });

  const attachedVolume = async (ec2: EC2Client, instance: string, device: string) => {
    const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    await ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: instance, Device: device }));
    return VolumeId!;
  };
  const attachmentState = async (ec2: EC2Client, volumeId: string) =>
    (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0].Attachments![0]?.State;

  it('keeps attachments across a restart, re-makes devices and links that are gone, and the data is there', async () => {
    const dataDir = workspace.dir('restart');
    const instances = [{ id: XVD }, { id: NITRO, devices: 'nitro' as const }];
    let endpoint = await workspace.start({ dataDir, instances });
    let ec2 = client(endpoint.ec2Url);
    const volumeId = await attachedVolume(ec2, XVD, '/dev/xvdf');
    const nitroVolume = await attachedVolume(ec2, NITRO, '/dev/xvdg');
    const link = path.join(endpoint.instances[0].devdir, 'xvdf');
    const loop = fs.readlinkSync(link);
    execFileSync('mkfs.ext4', ['-q', '-F', link]);
    let mountPoint = workspace.mount(link, 'mnt-restart');
    fs.writeFileSync(path.join(mountPoint, 'kept'), 'across restarts');
    workspace.unmount(mountPoint);
    await endpoint.close();

    const saved = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { volumes: Record<string, unknown> };
    expect(Object.keys(saved.volumes)).toEqual(expect.arrayContaining([volumeId, nitroVolume]));
    expect(fs.readdirSync(dataDir).filter((name) => name.includes('.tmp'))).toEqual([]);
    expect(fs.readlinkSync(link)).toBe(loop);

    // Restart with everything in place: same loop device, same link.
    endpoint = await workspace.start({ dataDir, instances });
    ec2 = client(endpoint.ec2Url);
    expect(await attachmentState(ec2, volumeId)).toBe('attached');
    expect(fs.readlinkSync(link)).toBe(loop);
    await endpoint.close();

    // Devices and links gone (as after a reboot): the restart re-makes them.
    const report = await cleanupLocalEc2(dataDir);
    expect(report.links).toHaveLength(2);
    expect(report.loopDevices).toHaveLength(2);
    expect(fs.existsSync(link)).toBe(false);
    expect(loopDevicesOf(dataDir)).toEqual([]);
    endpoint = await workspace.start({ dataDir, instances });
    ec2 = client(endpoint.ec2Url);
    expect(await attachmentState(ec2, volumeId)).toBe('attached');
    expect(fs.readlinkSync(link)).toMatch(/^\/dev\/loop\d+$/);
    const nitroLink = path.join(endpoint.instances[1].devdir, 'disk', 'by-id', `nvme-Amazon_Elastic_Block_Store_${nitroVolume.replace('-', '')}`);
    expect(fs.statSync(nitroLink).isBlockDevice()).toBe(true);
    mountPoint = workspace.mount(link, 'mnt-restart-2');
    expect(fs.readFileSync(path.join(mountPoint, 'kept'), 'utf8')).toBe('across restarts');
    workspace.unmount(mountPoint);
    await endpoint.close();
  });

  it('finishes an attachment that was under way when it stopped', async () => {
    const dataDir = workspace.dir('resume');
    let endpoint = await workspace.start({ dataDir, instances: [{ id: XVD }], delays: { attach: 60_000 } });
    const volumeId = await attachedVolume(client(endpoint.ec2Url), XVD, '/dev/xvdf');
    expect(await attachmentState(client(endpoint.ec2Url), volumeId)).toBe('attaching');
    await endpoint.close();
    endpoint = await workspace.start({ dataDir, instances: [{ id: XVD }] });
    expect(await attachmentState(client(endpoint.ec2Url), volumeId)).toBe('attached');
    expect(fs.statSync(path.join(endpoint.instances[0].devdir, 'xvdf')).isBlockDevice()).toBe(true);
    await endpoint.close();
  });

  it('cleanup removes every loop device and link of the data dir, and nothing else', async () => {
    const dataDir = workspace.dir('cleanup');
    const endpoint = await workspace.start({ dataDir, instances: [{ id: XVD }, { id: NITRO, devices: 'nitro' }] });
    const ec2 = client(endpoint.ec2Url);
    for (const device of ['/dev/xvdf', '/dev/xvdg', '/dev/xvdh']) await attachedVolume(ec2, XVD, device);
    await attachedVolume(ec2, NITRO, '/dev/xvdf');
    expect(loopDevicesOf(dataDir)).toHaveLength(4);
    const bystanderFile = path.join(workspace.dir('bystander'), 'disk.img');
    fs.writeFileSync(bystanderFile, '');
    fs.truncateSync(bystanderFile, 64 * 1024 * 1024);
    const bystander = execFileSync('losetup', ['--find', '--show', bystanderFile], { encoding: 'utf8' }).trim();
    try {
      await endpoint.close();
      const report = await cleanupLocalEc2(dataDir);
      expect(report.loopDevices).toHaveLength(4);
      expect(report.links).toHaveLength(4);
      expect(loopDevicesOf(dataDir)).toEqual([]);
      expect(fs.readdirSync(endpoint.instances[0].devdir)).toEqual([]);
      expect(fs.readFileSync(`/sys/block/${path.basename(bystander)}/loop/backing_file`, 'utf8').trim()).toBe(fs.realpathSync(bystanderFile));
      expect(await cleanupLocalEc2(dataDir)).toEqual({ loopDevices: [], links: [] });
    } finally {
      execFileSync('losetup', ['-d', bystander]);
    }
  });

  it('listens on a unix socket', async () => {
    const socket = path.join(workspace.dir('socket'), 'ec2.sock');
    const endpoint = await workspace.start({ dataDir: workspace.dir('socket-data'), listen: `unix:${socket}`, instances: [{ id: XVD, imds: `unix:${socket}.imds` }] });
    expect(endpoint.ec2Url).toBe(`unix:${socket}`);
    expect(endpoint.instances[0].imds).toBe(`unix:${socket}.imds`);
    const get = (socketPath: string, route: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ socketPath, path: route }, (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
    const state = JSON.parse((await get(socket, '/_berth/state')).body) as { instances: { id: string }[] };
    expect(state.instances.map((instance) => instance.id)).toEqual([XVD]);
    expect(await get(`${socket}.imds`, '/latest/meta-data/instance-id')).toEqual({ status: 200, body: XVD });
    await endpoint.close();
  });

  it('runs as a command: JSON line first, serves the SDK, keeps volumes on SIGTERM; cleanup prints its report', async () => {
    const runner = path.join(workspace.root, 'local-ec2-runner.js');
    buildSync({
      stdin: { contents: "require('./src/localec2/main').localEc2Main(process.argv.slice(2)).catch((e) => { console.error(e.message); process.exit(1); });", resolveDir: path.resolve(__dirname, '../..'), loader: 'ts' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: runner,
      logLevel: 'silent',
    });
    const dataDir = workspace.dir('command');
    workspace.trackDataDir(dataDir);
    const child = spawn(process.execPath, [
      runner,
      '--listen', '127.0.0.1:0',
      '--data-dir', dataDir,
      '--instance', `id=${XVD},az=us-east-1b,type=c5.xlarge,imdsv2=required`,
      '--instance', `id=${NITRO},az=us-east-1b,devices=nitro`,
      '--delays', 'create=0,attach=100ms,detach=0.2s',
      '--access-key', TEST_KEY.accessKeyId,
      '--secret-key', TEST_KEY.secretAccessKey,
    ]);
    children.push(child);
    const stderr: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const firstLine = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`local-ec2 exited with ${code}: ${stderr.join('')}`)));
    });
    const started = JSON.parse(firstLine) as { ec2: string; instances: { id: string; az: string; imds: string; devdir: string }[] };
    expect(started.ec2).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.instances).toEqual([
      { id: XVD, az: 'us-east-1b', imds: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), devdir: path.join(fs.realpathSync(dataDir), `dev-${XVD}`) },
      { id: NITRO, az: 'us-east-1b', imds: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), devdir: path.join(fs.realpathSync(dataDir), `dev-${NITRO}`) },
    ]);
    expect((await fetch(`${started.instances[0].imds}/latest/meta-data/instance-id`)).status).toBe(401);

    const ec2 = client(started.ec2);
    const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1b', Size: 1 }));
    await ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: XVD, Device: '/dev/xvdf' }));
    await waitFor('attached', async () => ((await attachmentState(ec2, VolumeId!)) === 'attached' ? true : undefined), { timeoutMs: 3000, intervalMs: 50 });
    const link = path.join(started.instances[0].devdir, 'xvdf');
    expect(fs.statSync(link).isBlockDevice()).toBe(true);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fs.statSync(link).isBlockDevice()).toBe(true);
    expect(stderr.join('')).toContain('"message":"stopping: volumes and attachments are kept"');
    expect(stderr.join('')).not.toContain(TEST_KEY.secretAccessKey);

    const cleanup = execFileSync(process.execPath, [runner, 'cleanup', '--data-dir', dataDir], { encoding: 'utf8' });
    expect(JSON.parse(cleanup)).toEqual({ loopDevices: [expect.stringMatching(/^\/dev\/loop\d+$/)], links: [link] });
    expect(fs.existsSync(link)).toBe(false);
    expect(loopDevicesOf(dataDir)).toEqual([]);
  });

  it('refuses bad command lines with a clear message', async () => {
    const { localEc2Main } = await import('../../src/localec2/main');
    await expect(localEc2Main(['--data-dir', '/tmp/x'])).rejects.toThrow(/--listen and --data-dir are required/);
    await expect(localEc2Main(['--listen', '10.0.0.1:80', '--data-dir', workspace.dir('bad')])).rejects.toThrow(/loopback addresses only/);
    await expect(localEc2Main(['--listen', '127.0.0.1:0', '--data-dir', workspace.dir('bad'), '--instance', 'colour=red'])).rejects.toThrow(/unknown field "colour"/);
    await expect(localEc2Main(['--listen', '127.0.0.1:0', '--data-dir', workspace.dir('bad'), '--delays', 'attach=soon'])).rejects.toThrow(/duration/);
    await expect(localEc2Main(['--listen', '127.0.0.1:0', '--data-dir', workspace.dir('bad'), '--instance', 'devices=scsi'])).rejects.toThrow(/xvd or nitro/);
  });
});
