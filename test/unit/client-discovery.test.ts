/**
 * How the admin commands find the daemon's admin socket: --socket, then a plugin socket set on purpose (legacy
 * mode), then the managed plugin Docker runs, asked of a fake `docker` first on PATH that answers as docker does.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { clientMain } from '../../src/client/main';
import { CommandFailure } from '../../src/client/failures';
import { findAdminSocket } from '../../src/client/socket-discovery';

const BERTH_ID = 'a'.repeat(64);
const OTHER_ID = 'b'.repeat(64);

interface FakePlugin {
  Id: string;
  Name: string;
  Enabled: boolean;
  Config: { Entrypoint: string[] };
}

const berthPlugin = (Id: string, Name: string, Enabled = true): FakePlugin => ({ Id, Name, Enabled, Config: { Entrypoint: ['/usr/local/bin/node', '/berth/cli.js', 'serve'] } });
const OTHER: FakePlugin = { Id: OTHER_ID, Name: 'vieux/sshfs:latest', Enabled: true, Config: { Entrypoint: ['/docker-volume-sshfs'] } };

/**
 * A `docker` that answers `plugin ls --quiet --no-trunc` and `plugin inspect NAME|ID...` from plugins.json beside
 * it (names match with or without :latest, ids by prefix, as docker's do), and logs each call with its DOCKER_HOST.
 */
const FAKE_DOCKER = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const plugins = JSON.parse(fs.readFileSync(path.join(__dirname, 'plugins.json'), 'utf8'));
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.log'), JSON.stringify({ args, host: process.env.DOCKER_HOST ?? null }) + '\\n');
if (args.join(' ') === 'plugin ls --quiet --no-trunc') {
  for (const plugin of plugins) process.stdout.write(plugin.Id + '\\n');
} else if (args[0] === 'plugin' && args[1] === 'inspect') {
  const found = [];
  for (const wanted of args.slice(2)) {
    const plugin = plugins.find((p) => p.Name === wanted || p.Name === wanted + ':latest' || p.Id.startsWith(wanted));
    if (!plugin) {
      process.stderr.write('Error: No such plugin: ' + wanted + '\\n');
      process.exit(1);
    }
    found.push(plugin);
  }
  process.stdout.write(JSON.stringify(found, null, 4) + '\\n');
} else {
  process.stderr.write('fake docker: unexpected ' + args.join(' ') + '\\n');
  process.exit(1);
}
`;

describe('finding the admin socket', () => {
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const never = () => false;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-find-'));
    bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'docker'), FAKE_DOCKER, { mode: 0o755 });
    env = { PATH: `${bin}:${process.env.PATH}`, DOCKER_HOST: 'unix:///run/private-engine.sock' };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const plugins = (...list: FakePlugin[]) => fs.writeFileSync(path.join(bin, 'plugins.json'), JSON.stringify(list));
  const dockerCalls = () =>
    fs.existsSync(path.join(bin, 'calls.log'))
      ? fs.readFileSync(path.join(bin, 'calls.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line))
      : [];
  const failure = async (found: Promise<unknown>) => {
    const err = await found.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(err).toBeInstanceOf(CommandFailure);
    return err as CommandFailure;
  };

  it('takes --socket over everything else', async () => {
    plugins(berthPlugin(BERTH_ID, 'berth:latest'));
    const found = await findAdminSocket({ socket: '/tmp/given.sock' }, { ...env, EBS_SOCKET: '/run/legacy/berth.sock' });
    expect(found.path).toBe('/tmp/given.sock');
    expect(dockerCalls()).toEqual([]);
  });

  it('uses the admin socket beside a plugin socket set by EBS_SOCKET or the config file (legacy mode), without asking Docker', async () => {
    plugins(berthPlugin(BERTH_ID, 'berth:latest'));
    expect((await findAdminSocket({}, { ...env, EBS_SOCKET: '/run/legacy/ebs.sock' })).path).toBe('/run/legacy/ebs-admin.sock');
    const configFile = path.join(dir, 'berth.json');
    fs.writeFileSync(configFile, JSON.stringify({ socket: '/srv/berth/plugin.sock' }));
    expect((await findAdminSocket({ config: configFile }, env)).path).toBe('/srv/berth/plugin-admin.sock');
    expect((await findAdminSocket({}, { ...env, EBS_CONFIG: configFile })).path).toBe('/srv/berth/plugin-admin.sock');
    expect(dockerCalls()).toEqual([]);
  });

  it('refuses settings berth serve would refuse, as bad usage', async () => {
    const err = await failure(findAdminSocket({}, { ...env, EBS_SOCKET: 'relative.sock' }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/^invalid setting: socket \(EBS_SOCKET, --socket\): must be an absolute path/);
  });

  it("otherwise asks Docker for the enabled plugin that runs berth: its socket folder under the exec root", async () => {
    plugins(OTHER, berthPlugin(BERTH_ID, 'berth:latest'));
    const found = await findAdminSocket({}, env, never);
    expect(found.path).toBe(`/run/docker/plugins/${BERTH_ID}/berth-admin.sock`);
    expect(found.foundBy).toContain('berth:latest');
    expect((await findAdminSocket({ dockerExecRoot: '/run/bt-1' }, env, never)).path).toBe(`/run/bt-1/plugins/${BERTH_ID}/berth-admin.sock`);
    // docker ran with the caller's environment: DOCKER_HOST picks the engine.
    expect(dockerCalls()[0]).toEqual({ args: ['plugin', 'ls', '--quiet', '--no-trunc'], host: 'unix:///run/private-engine.sock' });
    expect(dockerCalls()[1]).toEqual({ args: ['plugin', 'inspect', OTHER_ID, BERTH_ID], host: 'unix:///run/private-engine.sock' });
  });

  it('passes over berth/ebs-csi, which serves Swarm cluster volumes and no admin socket', async () => {
    const csi: FakePlugin = { Id: OTHER_ID, Name: 'berth/ebs-csi:latest', Enabled: true, Config: { Entrypoint: ['/usr/local/bin/node', '/berth/cli.js', 'csi'] } };
    plugins(csi, berthPlugin(BERTH_ID, 'berth/ebs:latest'));
    expect((await findAdminSocket({}, env, never)).path).toBe(`/run/docker/plugins/${BERTH_ID}/berth-admin.sock`);
  });

  it('takes the plugin named by --plugin, and refuses to guess between two', async () => {
    plugins(berthPlugin(BERTH_ID, 'berth:latest'), berthPlugin(OTHER_ID, 'berth:next'));
    expect((await findAdminSocket({ plugin: 'berth:next' }, env, never)).path).toBe(`/run/docker/plugins/${OTHER_ID}/berth-admin.sock`);
    expect((await findAdminSocket({ plugin: 'berth' }, env, never)).path).toBe(`/run/docker/plugins/${BERTH_ID}/berth-admin.sock`);
    const err = await failure(findAdminSocket({}, env, never));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('Docker runs 2 berth plugins (berth:latest, berth:next): choose one with --plugin NAME');
  });

  it('--plugin asks Docker even when EBS_SOCKET is set, and refuses a plugin that is not berth', async () => {
    plugins(OTHER, berthPlugin(BERTH_ID, 'berth:latest'));
    expect((await findAdminSocket({ plugin: 'berth' }, { ...env, EBS_SOCKET: '/run/legacy/berth.sock' }, never)).path).toBe(
      `/run/docker/plugins/${BERTH_ID}/berth-admin.sock`,
    );
    const err = await failure(findAdminSocket({ plugin: 'vieux/sshfs' }, env, never));
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('the Docker plugin vieux/sshfs does not run berth');
  });

  it('says what it tried and how to point the CLI at the socket when nothing is found (exit 5)', async () => {
    plugins(OTHER, berthPlugin(BERTH_ID, 'berth:latest', false));
    const err = await failure(findAdminSocket({}, env, never));
    expect(err.exitCode).toBe(5);
    expect(err.message.split('\n')).toEqual([
      'found no berth admin socket. Tried:',
      '  - --socket: not given',
      '  - legacy mode: neither EBS_SOCKET nor a config file (EBS_CONFIG, --config) sets the plugin socket',
      '  - asking Docker: the berth plugin berth:latest is disabled (docker plugin enable NAME)',
      '  - legacy mode with the default settings: no /run/docker/plugins/berth-admin.sock',
      expect.stringMatching(/^Point berth at it with --socket PATH .*--plugin NAME, and --docker-exec-root DIR/),
    ]);

    const noDocker = await failure(findAdminSocket({}, { PATH: path.join(dir, 'empty') }, never));
    expect(noDocker.message).toContain('  - asking Docker: docker: command not found in PATH');
    const unknown = await failure(findAdminSocket({ plugin: 'nosuch' }, env, never));
    expect(unknown.exitCode).toBe(5);
    expect(unknown.message).toContain('  - asking Docker: docker plugin inspect nosuch failed: Error: No such plugin: nosuch');
    expect(unknown.message).not.toContain('default settings');
  });

  it('finds a legacy install with the default settings when Docker runs no berth plugin', async () => {
    plugins(OTHER);
    const found = await findAdminSocket({}, env, (file) => file === '/run/docker/plugins/berth-admin.sock');
    expect(found.path).toBe('/run/docker/plugins/berth-admin.sock');
  });

  it('berth volume ls talks to the socket Docker points at', async () => {
    // A short id: a real one makes a path longer than a unix socket's 108 bytes under the temporary folder.
    const id = 'c0ffee42';
    plugins(berthPlugin(id, 'berth:latest'));
    const execRoot = path.join(dir, 'exec');
    fs.mkdirSync(path.join(execRoot, 'plugins', id), { recursive: true });
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.end(`${JSON.stringify({ result: { volumes: [] } })}\n`);
    });
    await new Promise<void>((resolve) => server.listen(path.join(execRoot, 'plugins', id, 'berth-admin.sock'), resolve));
    try {
      const stdout = { text: '', write: (chunk: string) => (stdout.text += chunk) };
      const stderr = { text: '', write: (chunk: string) => (stderr.text += chunk) };
      const code = await clientMain(['volume', 'ls', '--docker-exec-root', execRoot, '--json'], { env, stdout, stderr });
      expect({ code, stderr: stderr.text }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(stdout.text)).toEqual({ volumes: [] });
      expect(requests).toEqual(['GET /v1/volumes']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a socket Docker points at that is not there says how it was found', async () => {
    plugins(berthPlugin(BERTH_ID, 'berth:latest'));
    const stderr = { text: '', write: (chunk: string) => (stderr.text += chunk) };
    const code = await clientMain(['doctor', '--docker-exec-root', path.join(dir, 'exec')], { env, stdout: { write: () => true }, stderr });
    expect(code).toBe(5);
    expect(stderr.text).toContain(`cannot reach the berth daemon at ${dir}/exec/plugins/${BERTH_ID}/berth-admin.sock (the admin socket of the Docker plugin berth:latest`);
    expect(stderr.text).toContain('--docker-exec-root DIR names another');
  });
});
