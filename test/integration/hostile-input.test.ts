/**
 * Hostile input against a real `berth serve` (its own socket and state, pointed at the local EC2 endpoint): bounded
 * logs for megabyte bodies, a table of hostile names and options, and a seeded fuzzer over the protocol.
 *
 * Variables:
 *   BERTH_FUZZ_REQUESTS  how many fuzzed requests (default 2000, what CI runs; the campaign's long form is 10000)
 *   BERTH_FUZZ_SEED      the seed (default: random; printed, so a failure can be replayed)
 *   BERTH_FUZZ_QUIET_S   seconds of quiet before the last RSS reading (default 10, or 60 with BERTH_FUZZ_REQUESTS)
 *   BERTH_FUZZ_MAX_BODY  largest body of the "huge body" kind in bytes (default 8 MiB; the campaign sent 50 MiB)
 * The daemon's RSS (idle, after the burst, after the quiet) is printed, not asserted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../support/daemon';
import { HostileRequests, PROTOCOL_METHODS, REQUEST_KINDS, type HostileRequest } from '../support/hostile';
import { startLocalEc2, type LocalEc2 } from '../support/local-ec2';
import { mountsUnder, unmountAllUnder } from '../support/mounts';
import { describeAsRoot } from '../support/privileges';
import { callPlugin } from '../support/socket-client';
import { sendRaw, type RawAnswer } from '../support/raw-http';

/** The Node options berth ships with (the managed plugin's manifest; the legacy unit sets the same): RSS is measured as users run it. */
function shippedNodeOptions(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'config.json'), 'utf8')) as { env: Array<{ name: string; value?: string }> };
  return manifest.env.find((setting) => setting.name === 'NODE_OPTIONS')?.value ?? '';
}

const REQUESTS = Number(process.env.BERTH_FUZZ_REQUESTS ?? 2000);
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const QUIET_MS = 1000 * Number(process.env.BERTH_FUZZ_QUIET_S ?? (process.env.BERTH_FUZZ_REQUESTS ? 60 : 10));
const MAX_HUGE_BODY = Number(process.env.BERTH_FUZZ_MAX_BODY ?? 8 * 1024 * 1024);
/** Requests in flight at once in the main phase, and the burst of parallel connections after it. */
const CONCURRENCY = 8;
const BURST = Math.min(500, Math.floor(REQUESTS / 4));
/** Longest wait for an answer or a close, from the last byte written (the machine is shared and slow). */
const ANSWER_BOUND_MS = 15_000;
/** dockerErr's clip (api/errors.ts MAX_ERR_CHARS) plus its "… (n more characters)". */
const MAX_ERR_CHARS = 2_000 + 40;
const ALLOWED_NAMES = /a volume name starts with a letter or digit and contains only letters, digits, "_", "\." and "-"/;

type Daemon = RunningDaemon & { root: string };
type AnswerKind = 'Err' | 'success' | 'refused by HTTP' | 'closed' | 'we hung up';

const logBytes = (d: Daemon) => d.logs.reduce((sum, chunk) => sum + Buffer.byteLength(chunk), 0);

function rssMiB(pid: number): number {
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return Math.round(kib / 102.4) / 10;
}

/** Waits until the daemon's output has stopped growing (calls are logged just after their answer). */
async function logSettled(d: Daemon): Promise<number> {
  const deadline = Date.now() + 5_000;
  let last = -1;
  while (Date.now() < deadline) {
    const now = logBytes(d);
    if (now === last) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return logBytes(d);
}

const SUCCESS: Record<string, (body: Record<string, unknown>) => boolean> = {
  'Plugin.Activate': (body) => Array.isArray(body.Implements),
  'VolumeDriver.Capabilities': (body) => typeof body.Capabilities === 'object',
  'VolumeDriver.List': (body) => body.Err === '' && Array.isArray(body.Volumes),
  'VolumeDriver.Get': (body) => body.Err === '' && typeof body.Volume === 'object',
};

/** What came back, and what is wrong with it if anything. */
function judge(request: HostileRequest, answer: RawAnswer): { kind: AnswerKind; problem?: string } {
  if (request.expect === 'none') return { kind: 'we hung up' };
  if (answer.timedOut) return { kind: 'closed', problem: `neither answered nor closed within ${ANSWER_BOUND_MS} ms` };
  if (answer.status === undefined) {
    return request.expect === 'json or refused' ? { kind: 'closed' } : { kind: 'closed', problem: 'closed without an answer' };
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    if (request.expect === 'json or refused' && answer.status >= 400 && answer.status < 500) return { kind: 'refused by HTTP' };
    return { kind: 'closed', problem: `HTTP ${answer.status} answer is not JSON: ${answer.body.slice(0, 120)}` };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { kind: 'Err', problem: `answer is not a JSON object: ${answer.body.slice(0, 120)}` };
  const fields = body as Record<string, unknown>;
  if (!answer.headers['content-type']?.startsWith('application/vnd.docker.plugins.v1.2+json')) return { kind: 'Err', problem: `content type ${answer.headers['content-type']}` };
  const succeeded = SUCCESS[request.target]?.(fields) ?? fields.Err === '';
  if (succeeded) return request.errMentions ? { kind: 'success', problem: `bad input accepted: ${answer.body.slice(0, 120)}` } : { kind: 'success' };
  const err = fields.Err;
  if (typeof err !== 'string' || err === '') return { kind: 'Err', problem: `no Err string: ${answer.body.slice(0, 120)}` };
  if (/internal error/.test(err)) return { kind: 'Err', problem: `internal error: ${err.slice(0, 200)}` };
  if (err.length > MAX_ERR_CHARS) return { kind: 'Err', problem: `Err of ${err.length} characters` };
  if (request.errMentions && !request.errMentions.test(err)) return { kind: 'Err', problem: `Err does not match ${request.errMentions}: ${err.slice(0, 200)}` };
  return { kind: 'Err' };
}

class Tally {
  readonly requests = new Map<string, number>();
  readonly answers = new Map<AnswerKind, number>();
  readonly problems: string[] = [];
  slowestMs = 0;

  record(index: number, request: HostileRequest, answer: RawAnswer): void {
    const { kind, problem } = judge(request, answer);
    this.requests.set(request.kind, (this.requests.get(request.kind) ?? 0) + 1);
    this.answers.set(kind, (this.answers.get(kind) ?? 0) + 1);
    if (request.expect !== 'none') this.slowestMs = Math.max(this.slowestMs, answer.ms);
    if (problem) this.problems.push(`#${index} ${request.kind} ${request.target}: ${problem}`);
  }
}

describeAsRoot('hostile input to a real berth daemon', () => {
  let endpoint: LocalEc2;
  let d: Daemon;
  let idleRssMiB = 0;

  const createCalls = async (since: number) =>
    ((await endpoint.admin('GET', `calls?since=${since}`)) as Array<{ action: string }>).filter((call) => call.action === 'CreateVolume');
  const lastSeq = async () => {
    const calls = (await endpoint.admin('GET', 'calls')) as Array<{ seq: number }>;
    return calls.length ? calls[calls.length - 1].seq : 0;
  };
  const leftInMountRoot = () => (fs.existsSync(d.mountRoot) ? fs.readdirSync(d.mountRoot) : []);

  beforeAll(async () => {
    endpoint = await startLocalEc2(['id=i-0f0f0f0f0f0f0f0f1,az=us-east-1a']);
    d = await startDaemon({ ec2: endpoint.ec2, instance: endpoint.instances[0], env: { NODE_OPTIONS: shippedNodeOptions() } });
    for (const method of PROTOCOL_METHODS) await d.call(method, { Name: 'fz-warm', ID: 'warm' });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    idleRssMiB = rssMiB(d.child.pid!);
  });

  afterAll(async () => {
    await d?.stop().catch(() => undefined);
    if (d) {
      unmountAllUnder(d.root);
      fs.rmSync(d.root, { recursive: true, force: true });
    }
    await endpoint?.destroy();
  });

  it('answers a 1 MB request with a bounded Err and adds at most a few KB to its log', async () => {
    const megabyte = 1_000_000;
    const cases: Array<[string, string | object]> = [
      ['VolumeDriver.Create', { Name: 'a'.repeat(megabyte) }],
      ['VolumeDriver.Create', { Name: 'fz-log', Opts: { ['k'.repeat(megabyte)]: 'v' } }],
      ['VolumeDriver.Create', { Name: 'fz-log', Opts: { size: '9'.repeat(megabyte) } }],
      ['VolumeDriver.Mount', { Name: 'é'.repeat(megabyte / 2), ID: 'x' }],
      ['VolumeDriver.Get', { Name: '\u0000'.repeat(megabyte / 6) }],
      ['VolumeDriver.Path', 'x'.repeat(megabyte)],
    ];
    const growth: number[] = [];
    for (const [method, body] of cases) {
      const before = await logSettled(d);
      const reply = await callPlugin(d.socket, method, body);
      expect(reply.body.Err).toEqual(expect.any(String));
      expect(reply.body.Err.length).toBeLessThanOrEqual(MAX_ERR_CHARS);
      growth.push((await logSettled(d)) - before);
    }
    console.log(`log growth per 1 MB request (bytes): ${growth.join(', ')}`);
    for (const bytes of growth) expect(bytes).toBeLessThanOrEqual(8 * 1024);
  });

  const HOSTILE_NAMES: Array<[string, string, RegExp]> = [
    ['empty', '', /the volume name is empty/],
    ['"."', '.', /is a path component/],
    ['".."', '..', /is a path component/],
    ['"/"', '/', /contains "\/"/],
    ['a path', '../../etc', /contains "\/"/],
    ['NUL', 'a\u0000b', /contains a control character/],
    ['newline', 'db\n', /contains a control character/],
    ['DEL', '\u007f', /contains a control character/],
    ['C1 control', 'db\u0085', /contains a control character/],
    ['256 characters', 'a'.repeat(256), /is 256 characters long: the maximum is 255/],
    ['10,000 characters', 'a'.repeat(10_000), /is 10000 characters long: the maximum is 255/],
    ['fullwidth letters', 'ｄｂ', /is not allowed/],
    ['Cyrillic look-alike', 'dаta', /is not allowed/],
    ['zero-width space', 'db\u200b', /is not allowed/],
    ['right-to-left override', 'db\u202egpj', /is not allowed/],
    ['emoji', 'db😀', /is not allowed/],
    ['leading "-"', '-rf', /is not allowed/],
    ['"--help"', '--help', /is not allowed/],
    ['leading "."', '.hidden', /is not allowed/],
    ['"__proto__"', '__proto__', /is not allowed/],
    ['space', 'my volume', /is not allowed/],
    ['shell', 'db;reboot', /is not allowed/],
    ['colon', 'c:db', /is not allowed/],
  ];

  it('refuses hostile names at Create, saying what a name may be, and calls CreateVolume for none', async () => {
    const since = await lastSeq();
    for (const [what, name, reason] of HOSTILE_NAMES) {
      const { Err } = (await d.call('VolumeDriver.Create', { Name: name, Opts: null })).body;
      expect({ what, Err }).toEqual({ what, Err: expect.stringMatching(/volume name/) });
      expect({ what, Err }).toEqual({ what, Err: expect.stringMatching(reason) });
      expect({ what, Err }).toEqual({ what, Err: expect.stringMatching(/maximum is 255/.test(Err) ? /directory name holds at most 255 bytes/ : ALLOWED_NAMES) });
      expect({ what, Get: (await d.call('VolumeDriver.Get', { Name: name })).body.Volume ?? null }).toEqual({ what, Get: null });
    }
    expect(await createCalls(since)).toEqual([]);
    expect(leftInMountRoot()).toEqual([]);
  });

  it('treats names that are prototype keys as ordinary names of volumes that do not exist', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
      expect((await d.call('VolumeDriver.Get', { Name: name })).body).toEqual({ Volume: null, Err: `volume ${name} not found` });
      expect((await d.call('VolumeDriver.Path', { Name: name })).body).toEqual({ Err: '' });
      expect((await d.call('VolumeDriver.Unmount', { Name: name, ID: 'x' })).body).toEqual({ Err: '' });
      expect((await d.call('VolumeDriver.Mount', { Name: name, ID: 'x' })).body.Err).toMatch(new RegExp(`volume ${name} not found`));
    }
    expect(leftInMountRoot()).toEqual([]);
  });

  const HOSTILE_OPTIONS: Array<[string, string, RegExp]> = [
    ['unknown key', '{"sizee":"1"}', /^invalid option "sizee" \(did you mean size\?\): allowed options are size, /],
    ['"__proto__"', '{"__proto__":"x"}', /^invalid option "__proto__": allowed options are size, /],
    ['"__proto__" holding an option', '{"__proto__":{"size":"1"}}', /^"__proto__": the value must be a string \(key=value\), not an object/],
    ['"constructor"', '{"constructor":"x"}', /^invalid option "constructor": allowed options are /],
    ['"toString"', '{"toString":"x"}', /^invalid option "toString": allowed options are /],
    ['object value', '{"size":{"toString":1}}', /^"size": the value must be a string \(key=value\), not an object/],
    ['list value', '{"tags":["a=b"]}', /^"tags": the value must be a string \(key=value\), not a list/],
    ['Opts a string', '"size=1"', /Opts must be an object of strings/],
    ['Opts a list', '["size=1"]', /Opts must be an object of strings/],
    ['float size (a number)', '{"size":1.5}', /^size: "1\.5" is not a whole number of GiB/],
    ['negative size', '{"size":"-1"}', /^size: "-1" is not a whole number of GiB/],
    ['exponent size', '{"size":"1e3"}', /^size: "1e3" is not a whole number of GiB/],
    ['zero size', '{"size":"0"}', /^size: "0" is too small: the minimum is 1 GiB/],
    ['huge size', '{"size":"99999999999999999999"}', /^size: "99999999999999999999" is too large: the maximum is 65536 GiB/],
    ['million-digit size', JSON.stringify({ size: '9'.repeat(1_000_000) }), /^size: "9{10,}/],
    ['float iops', '{"iops":"3000.5"}', /^iops: "3000\.5" is not a whole number/],
    ['exponent iops', '{"iops":"1e4"}', /^iops: "1e4" is not a whole number/],
    ['negative throughput', '{"throughput":"-125"}', /^throughput: "-125" is not a whole number/],
    ['negative uid', '{"uid":"-1"}', /^uid: "-1" is not a numeric user id from 0 to /],
    ['hex gid', '{"gid":"0x10"}', /^gid: "0x10" is not a numeric group id from 0 to /],
    ['decimal mode', '{"mode":"999"}', /^mode: "999" is not an octal mode/],
    ['maybe encrypted', '{"encrypted":"maybe"}', /^encrypted: "maybe" is not true or false; allowed: true, yes, 1, false, no, 0/],
    ['unknown type', '{"type":"gp9"}', /^type: "gp9" is not an EBS volume type; allowed: /],
    ['100,000-character type', JSON.stringify({ type: 'x'.repeat(100_000) }), /^type: "x{10,}/],
    ['Name tag', '{"tags":"Name=x"}', /^tags: key "Name" is reserved/],
    ['aws: tag', '{"tags":"aws:x=1"}', /^tags: key "aws:x" uses the reserved prefix "aws:"/],
    ['129-character tag key', JSON.stringify({ tags: `${'k'.repeat(129)}=1` }), /^tags: key "k+" is longer than 128 characters/],
    ['bad KMS key', '{"kmsKeyId":"not-a-key"}', /^kmsKeyId: "not-a-key" is not a KMS key/],
    ['bad zone', '{"az":"mars-1a"}', /^az: "mars-1a" is not an availability zone name/],
    ['zone of another region', '{"availabilityZone":"eu-west-1a"}', /^availabilityZone: eu-west-1a is not in this instance's region us-east-1/],
    ['bad snapshot', '{"snapshot":"snap-zz"}', /^snapshot: "snap-zz" is not a snapshot id/],
    ['bad filesystem', '{"fsType":"ntfs"}', /^fsType: "ntfs" is not a supported filesystem; allowed: /],
    ['shell in mkfsOptions', '{"mkfsOptions":"-O ^has_journal; rm -rf /"}', /^mkfsOptions: /],
    ['bad crossAZ', '{"crossAZ":"teleport"}', /^crossAZ: "teleport" is not a cross-AZ policy; allowed: refuse, snapshot/],
  ];
  const EVERY_OPTION = ['size', 'volumeType', 'iops', 'throughput', 'encrypted', 'kmsKeyId', 'availabilityZone', 'snapshot', 'tags', 'fsType', 'mkfsOptions', 'uid', 'gid', 'mode', 'crossAZ'];

  it('refuses hostile options at Create, naming the key and what is allowed, and calls CreateVolume for none', async () => {
    const since = await lastSeq();
    const create = async (opts: string) => (await callPlugin(d.socket, 'VolumeDriver.Create', `{"Name":"fz-opts","Opts":${opts}}`)).body.Err as string;
    for (const [what, opts, reason] of HOSTILE_OPTIONS) expect({ what, Err: await create(opts) }).toEqual({ what, Err: expect.stringMatching(reason) });
    for (const key of EVERY_OPTION) {
      expect({ key, Err: await create(JSON.stringify({ [key]: ' ' })) }).toEqual({ key, Err: expect.stringMatching(new RegExp(`^${key}: no value given; allowed: .+`)) });
      expect({ key, Err: await create(JSON.stringify({ [key]: '\u0000$(reboot)' })) }).toEqual({ key, Err: expect.stringMatching(new RegExp(`^${key}: .+`)) });
    }
    expect(await createCalls(since)).toEqual([]);
    expect((await d.call('VolumeDriver.Get', { Name: 'fz-opts' })).body.Volume).toBeNull();
    expect(leftInMountRoot()).toEqual([]);
  });

  it(`survives ${REQUESTS} seeded hostile requests: no crash, no hang, every answer JSON with an Err that says what is wrong`, async () => {
    console.log(`hostile-input fuzz: BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_REQUESTS=${REQUESTS} (replay with these)`);
    const generator = new HostileRequests(SEED, {
      createNames: Array.from({ length: 20 }, (_, i) => `fz-new-${i}`),
      absentNames: Array.from({ length: 20 }, (_, i) => `fz-absent-${i}`),
      maxHugeBodyBytes: MAX_HUGE_BODY,
    });
    const tally = new Tally();
    const logBefore = await logSettled(d);
    const beforeRssMiB = rssMiB(d.child.pid!);
    const started = Date.now();

    let next = 0;
    const sequential = REQUESTS - BURST;
    const worker = async () => {
      while (next < sequential) {
        const index = next++;
        const request = generator.next();
        tally.record(index, request, await sendRaw(d.socket, request.bytes, request.delivery, ANSWER_BOUND_MS));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const burst = Array.from({ length: BURST }, () => generator.quick());
    const answers = await Promise.all(burst.map((request) => sendRaw(d.socket, request.bytes, request.delivery, ANSWER_BOUND_MS)));
    answers.forEach((answer, i) => tally.record(sequential + i, burst[i], answer));
    const burstMs = Date.now() - started;

    const afterBurstRssMiB = rssMiB(d.child.pid!);
    const logGrowth = (await logSettled(d)) - logBefore;
    expect(d.child.exitCode).toBeNull();
    expect(d.child.signalCode).toBeNull();
    expect((await d.call('VolumeDriver.Capabilities')).body).toEqual({ Capabilities: { Scope: 'global' } });

    console.log(
      [
        `hostile-input fuzz: ${REQUESTS} requests (${BURST} of them over parallel connections) in ${burstMs} ms; slowest answer ${tally.slowestMs} ms`,
        `requests by kind: ${REQUEST_KINDS.map((kind) => `${kind} ${tally.requests.get(kind) ?? 0}`).join(', ')}`,
        `answers by kind: ${[...tally.answers].map(([kind, n]) => `${kind} ${n}`).join(', ')}`,
        `daemon log grew ${logGrowth} bytes (${Math.round(logGrowth / REQUESTS)} per request)`,
        `problems: ${tally.problems.length}${tally.problems.length ? `\n  ${tally.problems.slice(0, 20).join('\n  ')}` : ''}`,
      ].join('\n'),
    );
    expect(tally.problems).toEqual([]);
    expect(logGrowth).toBeLessThan(REQUESTS * 1024);
    expect(mountsUnder(d.root)).toEqual([]);

    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const quietRssMiB = rssMiB(d.child.pid!);
    console.log(
      `daemon RSS (MiB): idle ${idleRssMiB}, before the fuzz ${beforeRssMiB}, after ${REQUESTS} hostile requests ${afterBurstRssMiB}, ` +
        `after ${QUIET_MS / 1000} s of quiet ${quietRssMiB} (${quietRssMiB - idleRssMiB >= 0 ? '+' : ''}${Math.round((quietRssMiB - idleRssMiB) * 10) / 10} over idle)`,
    );
    expect((await d.call('VolumeDriver.Capabilities')).body).toEqual({ Capabilities: { Scope: 'global' } });
  }, 120_000 + REQUESTS * 100 + QUIET_MS);
});
