/**
 * The admin commands through berth's real entry point, src/cli.ts, run as a child process: its exit codes and
 * what it prints. The entry is bundled with esbuild first (test/support/run-ts.cjs leaves cli.ts's dynamic imports
 * to Node's ES module loader, which cannot load .ts files); its npm dependencies stay in node_modules.
 */
import { spawn } from 'node:child_process';
import { buildSync } from 'esbuild';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { EXIT_CODES_HELP } from '../../src/client/failures';

const REPO = path.join(__dirname, '..', '..');
const NOBODY = 65534;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('berth admin commands as a process', () => {
  let dir: string;
  let cli: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-entry-'));
    // Another user runs it in the EACCES test.
    fs.chmodSync(dir, 0o755);
    cli = path.join(dir, 'cli.js');
    buildSync({ entryPoints: [path.join(REPO, 'src/cli.ts')], outfile: cli, bundle: true, platform: 'node', target: 'node20', format: 'cjs', packages: 'external', logLevel: 'error' });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function berth(args: string[], options: { uid?: number } = {}): Promise<Run> {
    const env = { PATH: process.env.PATH, NODE_PATH: path.join(REPO, 'node_modules') };
    const ids = options.uid === undefined ? {} : { uid: options.uid, gid: options.uid };
    const child = spawn(process.execPath, [cli, ...args], { env, ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (chunk) => (run.stdout += chunk));
    child.stderr.on('data', (chunk) => (run.stderr += chunk));
    return new Promise((resolve) => child.on('close', (code) => resolve({ ...run, code })));
  }

  async function withFakeAdmin<T>(socket: string, answer: object, use: () => Promise<T>): Promise<T> {
    const server = http.createServer((_req, res) => res.end(`${JSON.stringify(answer)}\n`));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      return await use();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('berth --help lists the admin commands and their exit codes', async () => {
    const run = await berth(['--help']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^ {2}volume resize NAME SIZE +grow a volume/m);
    expect(run.stderr).toMatch(/^ {2}5 {2}the berth daemon could not be reached or is not ready$/m);
    // cli.ts writes the table out (it loads nothing of src/client before an admin command): the same as each command's help.
    expect(run.stderr).toContain(EXIT_CODES_HELP.slice(EXIT_CODES_HELP.indexOf('\n') + 1));
  });

  it('exits 0 with the answer, 1 when doctor found a failed check', async () => {
    const socket = path.join(dir, 'ok-admin.sock');
    const ls = await withFakeAdmin(socket, { result: { volumes: [] } }, () => berth(['volume', 'ls', '--socket', socket]));
    expect(ls).toMatchObject({ code: 0, stderr: '' });
    expect(ls.stdout).toMatch(/^NAME +VOLUME ID/);
    const report = { checks: [{ name: 'metadata', outcome: 'fail', detail: 'no answer', fix: 'Allow the metadata service.' }] };
    const doctor = await withFakeAdmin(socket, { result: report }, () => berth(['doctor', '--socket', socket]));
    expect(doctor).toEqual({ code: 1, stderr: '', stdout: 'FAIL  metadata  no answer\n      fix: Allow the metadata service.\n' });
  });

  it('exits 2 for a bad argument and 5 when there is no daemon', async () => {
    expect(await berth(['volume', 'resize', 'db', '1.5', '--socket', '/nonexistent/x.sock'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^berth: volume resize: SIZE must be a whole number of GiB/),
    });
    expect(await berth(['volume', 'ls', '--socket', path.join(dir, 'absent.sock')])).toEqual({
      code: 5,
      stdout: '',
      stderr: `berth: cannot reach the berth daemon at ${dir}/absent.sock (the admin socket given by --socket): no such socket\n`,
    });
  });

  it('says the admin socket is root only when the user may not connect (EACCES)', async () => {
    const socket = path.join(dir, 'root-admin.sock');
    const run = await withFakeAdmin(socket, { result: { volumes: [] } }, () => {
      // Root ignores file modes: run as nobody then. Anyone else cannot connect to a socket without write permission.
      fs.chmodSync(socket, process.getuid?.() === 0 ? 0o600 : 0o000);
      return berth(['volume', 'ls', '--socket', socket], process.getuid?.() === 0 ? { uid: NOBODY } : {});
    });
    expect(run).toEqual({
      code: 5,
      stdout: '',
      stderr: `berth: cannot reach the berth daemon at ${socket} (the admin socket given by --socket): permission denied: the admin socket is root only (run berth with sudo)\n`,
    });
  });
});
