/**
 * `make demo` (entry: demo/demo.mjs, which installs the npm packages first and shows that as step 1): berth from a fresh checkout to a container whose data outlives it, on this machine, without AWS.
 *
 *   1. install what is missing (npm packages; Debian's docker.io, xfsprogs, busybox-static...), build berth
 *   2. build the managed plugin (build/plugin: config.json + rootfs/)
 *   3. start berth's local EC2 endpoint with EC2-like delays: EBS volumes are sparse files on loop devices
 *   4. start a private Docker daemon (its own socket, data root and config: the machine's Docker is not touched)
 *   5. docker plugin create / set / enable: berth/ebs, pointed at the local endpoint on 127.0.0.1
 *   6. docker volume create -d berth/ebs, a container writes to it, is removed, a new container reads the data back
 *
 * Everything keeps running afterwards (DOCKER_HOST=unix:///run/berth-demo/docker.sock); a second `make demo` reuses
 * what is running and restarts what is not; `make demo-clean` (demo/clean.mjs) removes it all.
 * Network: loopback only. Run it as root: `node demo/demo.mjs`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { commandLine, findExecutable, runCommand, runCommandOk } from '../test/support/commands';
import { getJson } from '../test/support/sockets';
import {
  ACCESS_KEY, CLI, DOCKER_HOST, IMAGE, PLUGIN, REPO, SECRET_KEY, VOLUME, docker, dockerOk, dockerdCommand, dockerdPid,
  endpointCommand, endpointUrls, paths, pluginLog, runningEndpoint, saveSettings, settingsForThisMachine,
  startDockerd, startEndpoint, type Settings,
} from './environment';
import { DemoError, Transcript, describeFailure, missingCapabilities, type Show, type StepDoneEarlier, type StepOutput } from './support';

let transcript = new Transcript();
const step = <T extends StepOutput>(title: string, body: (show: Show) => Promise<T>) => transcript.step(title, body);
const WRITER = 'berth-demo-writer';
const PLUGIN_DIR = path.join(REPO, 'build/plugin');

function checkMachine(): void {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('berth needs Linux');
  if (process.getuid?.() !== 0) problems.push('run it as root (it starts dockerd and uses loop devices)');
  if (Number(process.versions.node.split('.')[0]) < 20) problems.push(`Node.js 20 or later is needed (this is ${process.version})`);
  if (!fs.existsSync('/dev/loop-control')) problems.push('no loop devices here (/dev/loop-control): the local EBS volumes are loop devices');
  if (problems.length > 0) throw new DemoError(`this machine cannot run the demo: ${problems.join('; ')}`);
}

// --- 1. What the demo needs ------------------------------------------------------------------------------------

const DEBIAN_PACKAGES = ['xfsprogs', 'e2fsprogs', 'util-linux', 'busybox-static', 'ca-certificates', 'tar'];
const DOCKER_PROGRAMS = ['dockerd', 'docker', 'containerd', 'runc'];

async function installedVersion(pkg: string): Promise<string | undefined> {
  const out = await runCommand('dpkg-query', ['-W', '-f', '${db:Status-Abbrev} ${Version}', pkg]);
  const [status, version] = out.stdout.trim().split(/\s+/);
  return out.code === 0 && status === 'ii' ? version : undefined;
}

async function installPackages() {
  return step('Install the Debian packages the demo needs', async (show) => {
    const missing: string[] = [];
    for (const pkg of DEBIAN_PACKAGES) if (!(await installedVersion(pkg))) missing.push(pkg);
    // docker.io brings all four; a machine with Docker from elsewhere (docker-ce) has them already.
    if (DOCKER_PROGRAMS.some((program) => !findExecutable(program))) missing.unshift('docker.io');
    const install = ['apt-get', 'install', '-y', '--no-install-recommends', ...(missing.length ? missing : ['docker.io', ...DEBIAN_PACKAGES])];
    if (missing.length === 0) {
      show(install);
      const dockerd = (await runCommand('dockerd', ['--version'])).stdout.trim();
      return `already installed: ${dockerd}; ${DEBIAN_PACKAGES.join(', ')}`;
    }
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    show(['apt-get', 'update']);
    await runCommandOk('apt-get', ['update', '-qq'], { env, timeoutMs: 10 * 60_000 });
    show(install);
    await runCommandOk(install[0], [...install.slice(1), '-qq'], { env, timeoutMs: 20 * 60_000 });
    return `installed: ${missing.join(', ')}`;
  });
}

function newestMtime(files: string[]): number {
  return Math.max(0, ...files.map((file) => fs.statSync(file).mtimeMs));
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

async function buildBerth() {
  return step('Build berth (TypeScript to dist/)', async (show) => {
    show(['npm', 'run', 'build']);
    const inputs = [...filesUnder(path.join(REPO, 'src')), path.join(REPO, 'tsconfig.json'), path.join(REPO, 'package-lock.json')];
    if (fs.existsSync(CLI) && newestMtime([CLI]) >= newestMtime(inputs)) return 'up to date (dist/ is newer than every source file)';
    await runCommandOk('npm', ['run', 'build'], { cwd: REPO, timeoutMs: 10 * 60_000 });
    return 'built dist/cli.js';
  });
}

// --- 2. The managed plugin's directory ---------------------------------------------------------------------------

async function buildPluginDirectory(): Promise<string> {
  await step('Build the plugin: build/plugin (config.json + rootfs/)', async (show) => {
    const args = ['plugin/assemble.mjs', '--out', 'build/plugin', '--if-stale'];
    show(['node', ...args]);
    const stdout = await runCommandOk(process.execPath, [...args, '--json'], { cwd: REPO, timeoutMs: 20 * 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { rebuilt: boolean; seconds: number; rootfsBytes: number };
    const size = `${(result.rootfsBytes / 1024 / 1024).toFixed(1)} MiB`;
    return result.rebuilt
      ? `built in ${result.seconds.toFixed(1)} s: a rootfs of ${size} (Node.js, the bundled daemon, mkfs/fsck/mount tools)`
      : `up to date: a rootfs of ${size}, built from these same sources`;
  });
  return fs.readFileSync(path.join(PLUGIN_DIR, '.inputs'), 'utf8').trim();
}

// --- 3. The local EC2 endpoint -----------------------------------------------------------------------------------

/** How a user would type a command of ours: paths relative to the checkout, `node` for this Node.js. */
function asTyped(words: string[]): string {
  return commandLine(words.map((word) => (word === process.execPath ? 'node' : word === CLI ? 'dist/cli.js' : word)));
}

async function startLocalEc2(settings: Settings) {
  return step('Start the local EC2 endpoint (EC2-like delays)', async (show) => {
    show(`${asTyped(endpointCommand(settings))} &`);
    let endpoint = await runningEndpoint();
    const reused = Boolean(endpoint);
    if (!endpoint) endpoint = await startEndpoint(settings);
    const instance = endpoint.started.instances[0];
    return [
      reused ? `already running (pid ${endpoint.pid}): reused` : `started (pid ${endpoint.pid})`,
      `EC2 API     ${endpoint.started.ec2}  (transitions take as long as on EC2: create 2 s, attach 3 s, detach 3 s)`,
      `instance    ${instance.id} in ${instance.az}, metadata service ${instance.imds}`,
      `volumes     sparse files in ${paths.ec2Data}/volumes, attached as loop devices, linked in ${instance.devdir}`,
      `log         ${paths.ec2Log}`,
    ].join('\n');
  });
}

// --- 4. A private Docker daemon -----------------------------------------------------------------------------------

async function startDocker() {
  return step('Start a private Docker daemon', async (show) => {
    show(`${commandLine(dockerdCommand())} &`);
    const running = dockerdPid();
    const pid = await startDockerd();
    const version = (await dockerOk(['version', '--format', '{{.Server.Version}}'])).trim();
    return [
      `${running ? 'already running' : 'started'}: Docker ${version} (pid ${pid}), storage driver vfs, no network set-up`,
      `socket      ${DOCKER_HOST}   (/etc/docker, /var/lib/docker and /run/docker.sock are not touched)`,
      `log         ${paths.dockerLog}  (the plugin's output is in it too)`,
    ].join('\n');
  });
}

/** A tiny image made from Debian's static busybox: no registry needed. */
async function importBusyboxImage() {
  return step('Make a tiny container image from busybox', async (show) => {
    const tarball = path.join(paths.scratch, 'busybox.tar');
    show(['docker', 'import', '--change', 'CMD ["/bin/sh"]', tarball, IMAGE]);
    if ((await docker(['image', 'inspect', IMAGE])).code === 0) return `${IMAGE} is already there`;
    const rootfs = path.join(paths.scratch, 'busybox-rootfs');
    fs.rmSync(paths.scratch, { recursive: true, force: true });
    try {
      // No /data in the image: Docker would mount a new volume once more at container creation just to copy the
      // image's /data into it (an extra attach and detach).
      for (const dir of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, dir), { recursive: true });
      fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
      fs.copyFileSync(findExecutable('busybox') ?? 'busybox', path.join(rootfs, 'bin/busybox'));
      fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
      const applets = (await runCommandOk('busybox', ['--list'])).split('\n').map((name) => name.trim());
      for (const applet of applets) {
        if (/^[a-z0-9_.[-]+$/.test(applet) && applet !== 'busybox') fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
      }
      fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');
      await runCommandOk('tar', ['-C', rootfs, '-cf', tarball, '.']);
      await dockerOk(['import', '--change', 'CMD ["/bin/sh"]', tarball, IMAGE], { timeoutMs: 120_000 });
      return `${IMAGE}: /bin/busybox and ${applets.length} applet links`;
    } finally {
      fs.rmSync(paths.scratch, { recursive: true, force: true });
    }
  });
}

// --- 5. The plugin in Docker ------------------------------------------------------------------------------------

/** What `docker plugin set` gives the plugin: where EC2 and the instance metadata are, and the demo's key pair. */
function pluginSettings(settings: Settings): Record<string, string> {
  const urls = endpointUrls(settings);
  return {
    EBS_ENDPOINT: urls.ec2,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: urls.imds,
    EBS_DEVICEDIR: paths.devdir,
    EBS_ACCESSKEY: ACCESS_KEY,
    EBS_SECRETKEY: SECRET_KEY,
  };
}

async function installedPlugin(): Promise<{ enabled: boolean; env: string[] } | undefined> {
  const out = await docker(['plugin', 'inspect', '--format', '{{json .}}', PLUGIN]);
  if (out.code !== 0) return undefined;
  const plugin = JSON.parse(out.stdout);
  return { enabled: plugin.Enabled, env: plugin.Settings?.Env ?? [] };
}

async function pluginList(show: Show): Promise<string> {
  const listing = ['docker', 'plugin', 'ls'];
  show(listing);
  return dockerOk(listing.slice(1));
}

/**
 * runc refuses to start a plugin asking for a capability this machine's root does not have (e.g. in a container
 * whose capability bounding set lacks it), with only "unable to apply caps". Name the capability.
 */
function explainMissingCapabilities(err: unknown): unknown {
  const manifest = JSON.parse(fs.readFileSync(path.join(PLUGIN_DIR, 'config.json'), 'utf8'));
  const missing = missingCapabilities(manifest.linux?.capabilities ?? []);
  if (missing.length === 0) return err;
  const { heading, details } = describeFailure(err);
  return new DemoError(
    `${heading}: the plugin manifest asks for ${missing.join(', ')}, which this machine's root cannot grant ` +
      '(missing from its capability bounding set, as in some containers)',
    details,
  );
}

async function installPlugin(settings: Settings, buildInputs: string): Promise<void> {
  const wanted = Object.entries(pluginSettings(settings)).map(([key, value]) => `${key}=${value}`);
  const current = await installedPlugin();
  const upToDate = current?.enabled && wanted.every((pair) => current.env.includes(pair)) && settings.pluginBuild === buildInputs;
  if (upToDate) {
    await step('Use the berth plugin, already enabled', pluginList);
    return;
  }

  if (current) {
    // A plugin of an older build (or with other settings): replace it, unless containers are using it right now.
    const running = (await dockerOk(['ps', '--quiet'])).trim();
    if (running && current.enabled) {
      await step('Keep the enabled plugin: containers are using it', async (show) => {
        const listing = await pluginList(show);
        return `${listing}note: it is not from the current build/plugin; stop those containers and run make demo again to replace it`;
      });
      return;
    }
    await step('Remove the plugin of an earlier build', async (show) => {
      for (const args of [['plugin', 'disable', '--force', PLUGIN], ['plugin', 'rm', '--force', PLUGIN]]) {
        show(['docker', ...args]);
        const out = await docker(args, { timeoutMs: 120_000 });
        if (out.code !== 0 && !/already disabled/.test(out.stderr)) throw new DemoError(`docker ${args.join(' ')} failed`, out.stderr);
      }
      return 'removed (volumes stay: Docker remembers them, berth finds them again by their EC2 tags)';
    });
  }
  await step('Create the plugin from build/plugin', async (show) => {
    show(['docker', 'plugin', 'create', PLUGIN, 'build/plugin']);
    return dockerOk(['plugin', 'create', PLUGIN, PLUGIN_DIR], { timeoutMs: 5 * 60_000 });
  });
  await step('Point it at the local EC2 endpoint', async (show) => {
    show(['docker', 'plugin', 'set', PLUGIN, ...wanted]);
    await dockerOk(['plugin', 'set', PLUGIN, ...wanted]);
    return 'EBS_REGION is not set: berth asks the instance metadata service (us-east-1, from the instance\'s zone)';
  });
  await step('Enable the plugin', async (show) => {
    show(['docker', 'plugin', 'enable', '--timeout', '120', PLUGIN]);
    try {
      await dockerOk(['plugin', 'enable', '--timeout', '120', PLUGIN], { timeoutMs: 150_000 });
    } catch (err) {
      throw explainMissingCapabilities(err);
    }
    return pluginList(show);
  });
  saveSettings({ ...settings, pluginBuild: buildInputs });
}

// --- 6. A volume that outlives its container ---------------------------------------------------------------------

async function createVolume() {
  return step(`Create the volume ${VOLUME} (a 1 GiB EBS volume)`, async (show) => {
    const existed = (await docker(['volume', 'inspect', VOLUME])).code === 0;
    show(['docker', 'volume', 'create', '-d', 'berth/ebs', '-o', 'size=1', VOLUME]);
    const name = await dockerOk(['volume', 'create', '-d', 'berth/ebs', '-o', 'size=1', VOLUME], { timeoutMs: 150_000 });
    return existed ? `${name}(it already existed: created by an earlier run, with the data written then)` : name;
  });
}

async function writeData(): Promise<string> {
  let written = '';
  await step('Run a container that writes to the volume', async (show) => {
    await docker(['rm', '--force', WRITER]); // left over by an interrupted run
    const script = 'echo "Hello from berth, written at $(date -u +%H:%M:%S) by container $(hostname)" >> /data/hello.txt && tail -n 1 /data/hello.txt && df -hT /data';
    const args = ['run', '--name', WRITER, '--network', 'none', '-v', `${VOLUME}:/data`, IMAGE, 'sh', '-c', script];
    show(['docker', ...args]);
    const output = await dockerOk(args, { timeoutMs: 180_000 });
    written = output.split('\n')[0];
    return `${output}(berth attached the EBS volume, formatted it if it was new, and mounted it: the container's /data is on it)`;
  });
  return written;
}

type EndpointVolume = { id: string; sizeGiB: number; volumeType: string; availabilityZone: string; lifecycle: string; tags?: Record<string, string>; attachment?: { status: string; instanceId: string; device: string } };

/** The demo volume as the EC2 endpoint has it now. */
async function endpointVolume(settings: Settings): Promise<EndpointVolume | undefined> {
  const state = await getJson<{ volumes: EndpointVolume[] }>(`${endpointUrls(settings).ec2}/_berth/state`);
  return state?.volumes.find((v) => v.tags?.Name === VOLUME || Object.values(v.tags ?? {}).includes(VOLUME));
}

/**
 * What became of the volume once its container ended, as EC2 shows it now. Docker unmounted it when the container's
 * command ended (not at docker rm); after a use shorter than a second berth keeps it attached EBS_RELEASEDELAY (2 s).
 */
function releaseState(attachmentStatus: string | undefined): string {
  const unmounted = 'Docker unmounted the volume when the container\'s command ended';
  switch (attachmentStatus) {
    case undefined:
      return `${unmounted},\n and berth has detached it`;
    case 'attached':
      return `${unmounted};\n it is still attached: after a use shorter than a second berth keeps it attached for\n EBS_RELEASEDELAY (2 s) in case it is mounted again, then detaches it`;
    default:
      return `${unmounted},\n and berth is detaching it now (EC2 says ${attachmentStatus})`;
  }
}

async function removeWriter(settings: Settings) {
  return step('Remove that container', async (show) => {
    show(['docker', 'rm', WRITER]);
    const output = await dockerOk(['rm', WRITER]);
    const attachment = (await endpointVolume(settings))?.attachment;
    return `${output}(it is gone. ${releaseState(attachment?.status)};\n the data stays on the volume)`;
  });
}

async function readBack(written: string) {
  return step('Run a new container that reads the data back', async (show) => {
    const args = ['run', '--rm', '--network', 'none', '-v', `${VOLUME}:/data`, IMAGE, 'cat', '/data/hello.txt'];
    show(['docker', ...args]);
    const output = await dockerOk(args, { timeoutMs: 180_000 });
    if (!output.split('\n').includes(written)) {
      throw new DemoError('the new container does not see what the first one wrote', `wrote: ${written}\nread:\n${output}`);
    }
    const earlier = output.trim().split('\n').length - 1;
    return `${output}(the last line is the one the removed container wrote${earlier === 0 ? '' : `; ${earlier} line(s) from earlier runs`})`;
  });
}

async function inspectVolume() {
  return step('Inspect the volume', async (show) => {
    show(['docker', 'volume', 'inspect', VOLUME]);
    return { text: await dockerOk(['volume', 'inspect', VOLUME]), maxLines: 40 };
  });
}

async function showEc2Side(settings: Settings) {
  return step('What the EC2 side saw', async (show) => {
    const { ec2 } = endpointUrls(settings);
    show(['curl', '-s', `${ec2}/_berth/state`]);
    const calls = (await getJson<Array<{ action: string }>>(`${ec2}/_berth/calls`)) ?? [];
    const volume = await endpointVolume(settings);
    if (!volume) return 'no EC2 volume is tagged with the volume\'s name (see the plugin log)';
    const attachment = volume.attachment ? `, ${volume.attachment.status} to ${volume.attachment.instanceId} as ${volume.attachment.device}` : '';
    const counts: Record<string, number> = {};
    for (const call of calls) counts[call.action] = (counts[call.action] ?? 0) + 1;
    return [
      `${volume.id}: ${volume.sizeGiB} GiB ${volume.volumeType} in ${volume.availabilityZone}, ${volume.lifecycle}${attachment}`,
      `tags        ${Object.entries(volume.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      `EC2 calls since the endpoint started: ${Object.entries(counts).map(([action, n]) => `${action} ${n}`).join(', ')}`,
    ].join('\n');
  });
}

function printHowToUse(settings: Settings): void {
  const { ec2 } = endpointUrls(settings);
  transcript.heading('The demo environment is still running. Use it:');
  transcript.line(`  export DOCKER_HOST=${DOCKER_HOST}`);
  transcript.line('  docker volume ls');
  transcript.line(`  docker run --rm -it --network none -v ${VOLUME}:/data ${IMAGE} sh`);
  transcript.line('  docker volume create -d berth/ebs -o size=2 -o volumeType=gp3 -o fsType=xfs another');
  transcript.line(`Logs: ${paths.dockerLog} (Docker and the plugin), ${paths.ec2Log} (local EC2)`);
  transcript.line(`EC2 state: curl -s ${ec2}/_berth/state`);
  transcript.line('Remove everything the demo made: make demo-clean');
}

async function run(npm: StepDoneEarlier): Promise<void> {
  checkMachine();
  transcript.line('berth demo: a Docker volume plugin for AWS EBS, run against a local stand-in for EC2 (no AWS account needed)');
  transcript.stepDoneEarlier(npm);
  await installPackages();
  await buildBerth();
  const buildInputs = await buildPluginDirectory();
  const settings = await settingsForThisMachine();
  await startLocalEc2(settings);
  await startDocker();
  await importBusyboxImage();
  await installPlugin(settings, buildInputs);
  await createVolume();
  const written = await writeData();
  await removeWriter(settings);
  await readBack(written);
  await inspectVolume();
  await showEc2Side(settings);
  transcript.summary();
  printHowToUse(settings);
}

/** Called by demo/demo.mjs once the npm packages are there. */
export async function main({ npm }: { npm: StepDoneEarlier }): Promise<void> {
  transcript = new Transcript(npm.startedAt);
  await run(npm).catch(stopped);
}

function stopped(err: unknown): void {
  const { heading, details, unexpected } = describeFailure(err);
  transcript.heading(`The demo stopped: ${heading}`);
  if (details) transcript.line(details.split('\n').slice(unexpected ? 0 : -25).map((line) => `  ${line}`).join('\n'));
  const plugin = dockerdPid() ? pluginLog(20) : '';
  if (plugin) transcript.line(`\nLast lines of the plugin's log:\n${plugin}`);
  if (transcript.steps.length > 0) transcript.summary();
  transcript.line(`\nLogs are in ${paths.logs}. \`make demo\` again retries; \`make demo-clean\` removes everything the demo made.`);
  process.exitCode = 1;
}
