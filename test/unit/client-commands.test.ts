/**
 * The admin commands as a user sees them, run in-process against a fake admin server on a unix socket that speaks
 * the protocol of src/admin/protocol.ts: progress lines, then a result or an error.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AdminSnapshot, AdminVolume, DoctorReport, ModifyResult } from '../../src/admin/protocol';
import { clientMain } from '../../src/client/main';

interface SeenRequest {
  method: string;
  url: string;
  body: unknown;
}

/** What the fake daemon answers: JSON lines (a string is written as it is), each after `gapMs`. */
interface Answer {
  status?: number;
  contentType?: string;
  lines: (object | string)[];
  gapMs?: number;
}

interface FakeAdmin {
  requests: SeenRequest[];
  answer: (request: SeenRequest) => Answer;
  close(): Promise<void>;
}

async function startFakeAdmin(socketPath: string): Promise<FakeAdmin> {
  const fake: FakeAdmin = { requests: [], answer: () => ({ lines: [{ result: {} }] }), close: async () => undefined };
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', async () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', body: text ? JSON.parse(text) : undefined };
      fake.requests.push(seen);
      const answer = fake.answer(seen);
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'application/x-ndjson' });
      for (const line of answer.lines) {
        res.write(typeof line === 'string' ? line : `${JSON.stringify(line)}\n`);
        await new Promise((resolve) => setTimeout(resolve, answer.gapMs ?? 1));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}

/** An output stream that keeps what was written; `isTTY` as a terminal would say. */
function captured(isTTY = false) {
  const stream = { text: '', isTTY, columns: 80, write: (chunk: string) => ((stream.text += chunk), true) };
  return stream;
}

const VOLUME: AdminVolume = {
  name: 'db',
  volumeId: 'vol-0123456789abcdef0',
  sizeGiB: 20,
  volumeType: 'gp3',
  iops: 3000,
  throughput: 125,
  encrypted: true,
  availabilityZone: 'eu-west-1a',
  state: 'in-use',
  attachedTo: 'i-0aaaabbbbccccdddd',
  attachmentState: 'attached',
  mountedHere: true,
  users: 2,
  fsType: 'ext4',
  formatted: true,
  createdAt: '2026-11-01T10:00:00.000Z',
};

const IDLE: AdminVolume = {
  ...VOLUME,
  name: 'cache',
  volumeId: 'vol-0fedcba9876543210',
  sizeGiB: 1,
  volumeType: 'gp2',
  iops: undefined,
  throughput: undefined,
  state: 'available',
  attachedTo: '',
  attachmentState: '',
  mountedHere: false,
  users: 0,
};

const SNAPSHOT: AdminSnapshot = {
  snapshotId: 'snap-0abc',
  volume: 'db',
  volumeId: VOLUME.volumeId,
  state: 'completed',
  progress: 100,
  sizeGiB: 20,
  startTime: '2026-11-02T08:30:00.000Z',
  tags: { team: 'data' },
};

describe('the admin commands', () => {
  let dir: string;
  let socket: string;
  let admin: FakeAdmin;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-client-'));
    socket = path.join(dir, 'berth-admin.sock');
    admin = await startFakeAdmin(socket);
  });
  afterEach(async () => {
    await admin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const answerWith = (...lines: (object | string)[]) => (admin.answer = () => ({ lines }));

  async function berth(args: string[], options: { tty?: boolean } = {}) {
    const stdout = captured();
    const stderr = captured(options.tty ?? false);
    const code = await clientMain([...args, '--socket', socket], { env: {}, stdout, stderr });
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  describe('human output', () => {
    it('volume ls: a table with a row per volume, by name, and "-" for what a volume does not have', async () => {
      answerWith({ result: { volumes: [VOLUME, IDLE] } });
      const { code, stdout, stderr } = await berth(['volume', 'ls']);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const [header, ...rows] = stdout.trimEnd().split('\n');
      expect(header.split(/ {2,}/)).toEqual(['NAME', 'VOLUME ID', 'SIZE', 'TYPE', 'IOPS', 'THROUGHPUT', 'ZONE', 'STATE', 'ATTACHED TO', 'USERS']);
      expect(rows.map((row) => row.split(/ {2,}/))).toEqual([
        ['cache', 'vol-0fedcba9876543210', '1 GiB', 'gp2', '-', '-', 'eu-west-1a', 'available', '-', '0'],
        ['db', 'vol-0123456789abcdef0', '20 GiB', 'gp3', '3000', '125 MiB/s', 'eu-west-1a', 'in-use', 'i-0aaaabbbbccccdddd', '2'],
      ]);
      // Columns line up: each header starts where its values start.
      const column = header.indexOf('VOLUME ID');
      expect(rows.every((row) => row.slice(column).startsWith('vol-'))).toBe(true);
      expect(admin.requests).toEqual([{ method: 'GET', url: '/v1/volumes', body: undefined }]);
    });

    it('volume ls with no volumes prints the header alone', async () => {
      answerWith({ result: { volumes: [] } });
      expect((await berth(['volume', 'ls'])).stdout).toMatch(/^NAME +VOLUME ID .* USERS\n$/);
    });

    it('volume inspect: key: value lines, the latest modification included', async () => {
      const modification = { state: 'optimizing', progress: 40, targetSizeGiB: 50, targetVolumeType: 'gp3', targetIops: 4000, startTime: '2026-11-03T09:00:00Z' };
      answerWith({ result: { ...VOLUME, modification } });
      const { code, stdout } = await berth(['volume', 'inspect', 'db']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Name: +db$/m);
      expect(stdout).toMatch(/^Volume ID: +vol-0123456789abcdef0$/m);
      expect(stdout).toMatch(/^Attached to: +i-0aaaabbbbccccdddd \(attached\)$/m);
      expect(stdout).toMatch(/^Mounted here: +yes, 2 users$/m);
      expect(stdout).toMatch(/^Modification: +optimizing 40%: to 50 GiB, gp3, 4000 IOPS, started 2026-11-03 09:00:00 UTC$/m);
      expect(admin.requests[0]).toMatchObject({ method: 'GET', url: '/v1/volumes/db' });
    });

    it('volume inspect says "none" when EC2 knows no modification, and URI-encodes the name', async () => {
      answerWith({ result: IDLE });
      const { stdout } = await berth(['volume', 'inspect', 'my vol']);
      expect(stdout).toMatch(/^Modification: +none$/m);
      expect(admin.requests[0].url).toBe('/v1/volumes/my%20vol');
    });

    it("volume resize sends only the size, and says the daemon's sentence and the seconds", async () => {
      const result: ModifyResult = { volume: { ...VOLUME, sizeGiB: 30 }, filesystem: 'grown', message: 'db is 30 GiB and its filesystem grew online.', seconds: 42.4 };
      answerWith({ progress: { step: 'modifying', message: 'EC2 is modifying', percent: 10 } }, { result });
      const { code, stdout } = await berth(['volume', 'resize', 'db', '30GiB']);
      expect(code).toBe(0);
      expect(stdout).toBe('db is 30 GiB and its filesystem grew online (42 s).\n');
      expect(admin.requests).toEqual([{ method: 'POST', url: '/v1/volumes/db/modify', body: { sizeGiB: 30 } }]);
    });

    it('volume modify sends each change given, sizes with or without G', async () => {
      const result: ModifyResult = { volume: VOLUME, filesystem: 'at-next-mount', message: 'The filesystem grows at the next mount', seconds: 3 };
      answerWith({ result });
      const { code, stdout } = await berth(['volume', 'modify', 'db', '--type', 'io2', '--iops', '8000', '--throughput', '500', '--size', '40G']);
      expect(code).toBe(0);
      expect(stdout).toBe('The filesystem grows at the next mount (3.0 s).\n');
      expect(admin.requests[0]).toEqual({ method: 'POST', url: '/v1/volumes/db/modify', body: { sizeGiB: 40, volumeType: 'io2', iops: 8000, throughput: 500 } });
    });

    it('volume release: who held it, and whether it was forced', async () => {
      answerWith({ result: { name: 'db', volumeId: VOLUME.volumeId, releasedFrom: 'i-0dead', holderState: 'stopped', forced: true } });
      const { code, stdout } = await berth(['volume', 'release', 'db', '--force']);
      expect(code).toBe(0);
      expect(stdout).toBe('Force-detached db (vol-0123456789abcdef0) from i-0dead (stopped).\n');
      expect(admin.requests[0]).toEqual({ method: 'POST', url: '/v1/volumes/db/release', body: { force: true } });

      answerWith({ result: { name: 'db', volumeId: VOLUME.volumeId, releasedFrom: '', holderState: 'unknown', forced: false } });
      expect((await berth(['volume', 'release', 'db'])).stdout).toBe('db (vol-0123456789abcdef0) was attached to no instance: nothing to release.\n');
      expect(admin.requests[1].body).toEqual({});
    });

    it('snapshot create sends the tags and names the snapshot made', async () => {
      answerWith({ progress: { step: 'snapshot', message: 'copying', percent: 50 } }, { result: SNAPSHOT });
      const { code, stdout } = await berth(['snapshot', 'create', 'db', '--tag', 'team=data', '--tag', 'note=']);
      expect(code).toBe(0);
      expect(stdout).toBe('Created snap-0abc of db (vol-0123456789abcdef0): 20 GiB, completed.\n');
      expect(admin.requests[0]).toEqual({ method: 'POST', url: '/v1/volumes/db/snapshots', body: { tags: { team: 'data', note: '' } } });
    });

    it('snapshot ls: a table, oldest first, of one volume when named', async () => {
      const older = { ...SNAPSHOT, snapshotId: 'snap-0old', state: 'pending', progress: 37, startTime: '2026-11-01T08:30:00.000Z' };
      answerWith({ result: { snapshots: [SNAPSHOT, older] } });
      const { code, stdout } = await berth(['snapshot', 'ls', 'db']);
      expect(code).toBe(0);
      expect(stdout.trimEnd().split('\n').map((row) => row.split(/ {2,}/))).toEqual([
        ['SNAPSHOT', 'VOLUME', 'STATE', 'PROGRESS', 'SIZE', 'STARTED'],
        ['snap-0old', 'db', 'pending', '37%', '20 GiB', '2026-11-01 08:30:00 UTC'],
        ['snap-0abc', 'db', 'completed', '100%', '20 GiB', '2026-11-02 08:30:00 UTC'],
      ]);
      expect(admin.requests[0].url).toBe('/v1/snapshots?volume=db');
      await berth(['snapshot', 'ls']);
      expect(admin.requests[1].url).toBe('/v1/snapshots');
    });

    it('snapshot rm deletes by id', async () => {
      answerWith({ result: { deleted: 'snap-0abc' } });
      const { code, stdout } = await berth(['snapshot', 'rm', 'snap-0abc']);
      expect({ code, stdout }).toEqual({ code: 0, stdout: 'Deleted snap-0abc.\n' });
      expect(admin.requests[0]).toMatchObject({ method: 'DELETE', url: '/v1/snapshots/snap-0abc' });
    });

    it('doctor: a line per check, the fix under each that did not pass; exit 1 when one failed', async () => {
      const report: DoctorReport = {
        checks: [
          { name: 'metadata', outcome: 'pass', detail: 'instance i-0aaa in eu-west-1a' },
          { name: 'iam:ModifyVolume', outcome: 'fail', detail: 'access denied', fix: 'Allow ec2:ModifyVolume in the instance role.' },
          { name: 'imdsv2', outcome: 'warn', detail: 'IMDSv1 is enabled', fix: 'Require IMDSv2.' },
          { name: 'xfs', outcome: 'skip', detail: 'no xfs volumes' },
        ],
      };
      answerWith({ result: report });
      const { code, stdout } = await berth(['doctor']);
      expect(code).toBe(1);
      expect(stdout.split('\n')).toEqual([
        'PASS  metadata          instance i-0aaa in eu-west-1a',
        'FAIL  iam:ModifyVolume  access denied',
        '      fix: Allow ec2:ModifyVolume in the instance role.',
        'WARN  imdsv2            IMDSv1 is enabled',
        '      fix: Require IMDSv2.',
        'SKIP  xfs               no xfs volumes',
        '',
      ]);
      answerWith({ result: { checks: report.checks.filter((check) => check.outcome !== 'fail') } });
      expect((await berth(['doctor'])).code).toBe(0);
    });
  });

  describe('--json', () => {
    it.each([
      [['volume', 'ls'], { volumes: [VOLUME, IDLE] }],
      [['volume', 'inspect', 'db'], VOLUME],
      [['snapshot', 'ls'], { snapshots: [SNAPSHOT] }],
      [['snapshot', 'rm', 'snap-0abc'], { deleted: 'snap-0abc' }],
    ])('%j prints exactly the result', async (args, result) => {
      answerWith({ progress: { step: 'waiting', message: 'a moment' } }, { result });
      const { code, stdout, stderr } = await berth([...args, '--json'], { tty: true });
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual(result);
      expect(stderr).toBe('');
    });

    it('doctor --json still exits 1 when a check failed', async () => {
      const report: DoctorReport = { checks: [{ name: 'metadata', outcome: 'fail', detail: 'no answer', fix: 'Allow IMDS.' }] };
      answerWith({ result: report });
      const { code, stdout } = await berth(['doctor', '--json']);
      expect(code).toBe(1);
      expect(JSON.parse(stdout)).toEqual(report);
    });
  });

  describe('progress', () => {
    const resize = () => {
      const result: ModifyResult = { volume: VOLUME, filesystem: 'grown', message: 'Grown', seconds: 12 };
      answerWith(
        { progress: { step: 'modifying', message: 'EC2 is modifying vol-0123', percent: 12.4 } },
        { progress: { step: 'growing', message: 'growing the filesystem' } },
        { result },
      );
      return ['volume', 'resize', 'db', '30'];
    };

    it('is one line on a terminal, rewritten in place, with the percent when there is one, then erased', async () => {
      const { code, stdout, stderr } = await berth(resize(), { tty: true });
      expect(code).toBe(0);
      expect(stderr).toBe('\rEC2 is modifying vol-0123 12%\u001b[K\rgrowing the filesystem\u001b[K\r\u001b[K');
      expect(stdout).toBe('Grown (12 s).\n');
    });

    it('is not shown when stderr is no terminal, nor with --json', async () => {
      expect((await berth(resize())).stderr).toBe('');
      expect((await berth([...resize(), '--json'], { tty: true })).stderr).toBe('');
    });

    it('keeps a long message to the width of the terminal', async () => {
      answerWith({ progress: { step: 'waiting', message: 'x'.repeat(200), percent: 5 } }, { result: { deleted: 'snap-1' } });
      const { stderr } = await berth(['snapshot', 'rm', 'snap-1'], { tty: true });
      const line = stderr.split('\u001b[K')[0].slice(1);
      expect(line.length).toBeLessThan(80);
      expect(line.endsWith('… 5%')).toBe(true);
    });

    it('is read line by line however the stream is cut', async () => {
      admin.answer = () => ({ lines: ['{"progress":{"step":"snapshot","message":"copy', 'ing","percent":50}}\n{"res', 'ult":{"deleted":"snap-9"}}'] });
      const { code, stdout, stderr } = await berth(['snapshot', 'rm', 'snap-9'], { tty: true });
      expect(code).toBe(0);
      expect(stdout).toBe('Deleted snap-9.\n');
      expect(stderr).toContain('copying 50%');
    });
  });

  describe('exit codes and errors', () => {
    it.each([
      ['cloud', 1],
      ['host', 1],
      ['filesystem', 1],
      ['timeout', 1],
      ['internal', 1],
      ['device-missing', 1],
      ['unsafe-device', 1],
      ['capacity', 1],
      ['something-new', 1],
      ['invalid-option', 2],
      ['invalid-name', 2],
      ['not-found', 3],
      ['in-use', 4],
      ['attached-elsewhere', 4],
      ['zone-mismatch', 4],
      ['not-ready', 5],
    ])('an error of kind %s exits %i with "berth: <message>" on stderr', async (kind, exitCode) => {
      admin.answer = () => ({ status: 400, lines: [{ error: { kind, message: `it went ${kind}` } }] });
      const { code, stdout, stderr } = await berth(['volume', 'inspect', 'db', '--json']);
      expect({ code, stdout, stderr }).toEqual({ code: exitCode, stdout: '', stderr: `berth: it went ${kind}\n` });
    });

    it('an internal error, whose message says berth already, is not prefixed twice', async () => {
      admin.answer = () => ({ status: 500, lines: [{ error: { kind: 'internal', message: 'berth: internal error: boom' } }] });
      expect((await berth(['volume', 'ls'])).stderr).toBe('berth: internal error: boom\n');
    });

    it('an error after progress lines ends the progress line first', async () => {
      answerWith({ progress: { step: 'modifying', message: 'modifying' } }, { error: { kind: 'invalid-option', field: 'iops', message: 'iops: must be 100 to 64000 for io2' } });
      const { code, stderr } = await berth(['volume', 'modify', 'db', '--iops', '99'], { tty: true });
      expect(code).toBe(2);
      expect(stderr).toBe('\rmodifying\u001b[K\r\u001b[Kberth: iops: must be 100 to 64000 for io2\n');
    });

    it('a stream that ends without a result or an error is a failure', async () => {
      answerWith({ progress: { step: 'modifying', message: 'modifying' } });
      const { code, stdout, stderr } = await berth(['volume', 'resize', 'db', '30']);
      expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
      expect(stderr).toBe('berth: the daemon ended the answer early (HTTP 200, no result or error line)\n');
    });

    it('an answer that is not JSON lines is a failure that says what came', async () => {
      admin.answer = () => ({ status: 404, contentType: 'text/plain', lines: ['Cannot GET /v1/doctor'] });
      const { code, stderr } = await berth(['doctor']);
      expect(code).toBe(1);
      expect(stderr).toBe('berth: the daemon answered HTTP 404 with something other than JSON lines: Cannot GET /v1/doctor\n');
    });

    it('no socket, or one nobody listens on, is exit 5 naming the socket', async () => {
      await admin.close();
      const missing = await berth(['volume', 'ls']);
      expect(missing.code).toBe(5);
      expect(missing.stderr).toBe(`berth: cannot reach the berth daemon at ${socket} (the admin socket given by --socket): no such socket\n`);
      // A daemon killed while listening leaves its socket file behind.
      const script = `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`;
      spawnSync(process.execPath, ['-e', script]);
      expect(fs.existsSync(socket)).toBe(true);
      const refused = await berth(['volume', 'ls']);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toBe(`berth: cannot reach the berth daemon at ${socket} (the admin socket given by --socket): nothing listens on it (is berth running?)\n`);
    });
  });

  describe('bad arguments: exit 2 naming the argument, before any request', () => {
    it.each([
      [['volume', 'resize', 'db'], 'volume resize: missing SIZE (usage: berth volume resize NAME SIZE)'],
      [['volume', 'resize', 'db', '10T'], 'volume resize: SIZE must be a whole number of GiB above 0, optionally followed by G or GiB (20, 20G, 20GiB), not "10T"'],
      [['volume', 'resize', 'db', '0'], 'volume resize: SIZE must be a whole number of GiB above 0'],
      [['volume', 'resize', 'db', '1.5'], 'volume resize: SIZE must be a whole number'],
      [['volume', 'modify', 'db'], 'volume modify: give at least one of --size N, --type T, --iops N, --throughput N'],
      [['volume', 'modify', 'db', '--iops', 'many'], 'volume modify: --iops must be a whole number above 0, not "many"'],
      [['volume', 'modify', 'db', '--throughput', '-5'], 'volume modify: --throughput N needs a value'],
      [['volume', 'modify', 'db', '--size', '5X'], 'volume modify: --size must be a whole number of GiB'],
      [['volume', 'ls', '--bogus'], 'volume ls: unknown option --bogus (allowed: --json, --socket PATH, --plugin NAME, --docker-exec-root DIR, --config FILE, --help)'],
      [['volume', 'ls', '--json=yes'], 'volume ls: --json takes no value'],
      [['volume', 'inspect'], 'volume inspect: missing NAME'],
      [['volume', 'inspect', 'a', 'b'], 'volume inspect: takes only NAME; unexpected "b"'],
      [['volume', 'inspect', ''], 'volume inspect: NAME must not be empty'],
      [['volume', 'release', 'db', '--force=1'], 'volume release: --force takes no value'],
      [['snapshot', 'create', 'db', '--tag', 'novalue'], 'snapshot create: --tag must be key=value'],
      [['snapshot', 'create', 'db', '--tag', 'a=1', '--tag', 'a=2'], 'snapshot create: --tag "a" is given twice'],
      [['snapshot', 'rm'], 'snapshot rm: missing SNAPSHOT'],
      [['doctor', 'now'], 'doctor: takes no operands; unexpected "now"'],
      [['volume', 'grow', 'db'], 'volume: unknown command "grow" (the volume commands: ls, inspect, resize, modify, release)'],
    ])('%j', async (args, message) => {
      const { code, stdout, stderr } = await berth(args);
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr.startsWith(`berth: ${message}`)).toBe(true);
      expect(admin.requests).toEqual([]);
    });

    it('an option without its value names it', async () => {
      const stderr = captured();
      expect(await clientMain(['volume', 'ls', '--socket'], { env: {}, stdout: captured(), stderr })).toBe(2);
      expect(stderr.text).toBe('berth: volume ls: --socket PATH needs a value (one starting with "-" is written --socket=-VALUE)\n');
    });
  });

  describe('help', () => {
    it("--help prints the command's usage, options and exit codes, and asks nothing of the daemon", async () => {
      const { code, stdout } = await berth(['volume', 'modify', 'db', '--bogus', '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain('usage: berth volume modify NAME [options]');
      expect(stdout).toMatch(/--throughput N +throughput in MiB\/s/);
      expect(stdout).toMatch(/--json +print the result as JSON/);
      expect(stdout).toMatch(/^ {2}4 {2}refused because of the volume's state/m);
      expect(admin.requests).toEqual([]);
    });

    it('berth volume --help lists the volume commands; berth volume alone is bad usage', async () => {
      const out = captured();
      expect(await clientMain(['volume', '--help'], { env: {}, stdout: out, stderr: captured() })).toBe(0);
      expect(out.text).toMatch(/^ {2}resize NAME SIZE +grow a volume/m);
      const err = captured();
      expect(await clientMain(['snapshot'], { env: {}, stdout: captured(), stderr: err })).toBe(2);
      expect(err.text).toContain('create NAME');
    });
  });
});
