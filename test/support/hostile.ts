/**
 * Hostile requests for the plugin socket, made from a seed: the same seed gives the same requests, so a failure
 * can be replayed. Pure: it builds the bytes of each request and says what a correct daemon may answer; sending is
 * test/support/raw-http.ts's job.
 */

export type Random = () => number;

/** mulberry32: a tiny 32-bit PRNG, plenty for choosing test inputs. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Dice {
  constructor(private readonly random: Random) {}
  /** 0 ≤ n < below */
  int(below: number): number {
    return Math.floor(this.random() * below);
  }
  /** Spread over orders of magnitude: 1 ≤ n ≤ max, small sizes as likely as large ones. */
  size(max: number): number {
    return Math.max(1, Math.floor(Math.exp(this.random() * Math.log(max))));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

export const PROTOCOL_METHODS = [
  'Plugin.Activate',
  'VolumeDriver.Create',
  'VolumeDriver.Remove',
  'VolumeDriver.Mount',
  'VolumeDriver.Unmount',
  'VolumeDriver.Path',
  'VolumeDriver.Get',
  'VolumeDriver.List',
  'VolumeDriver.Capabilities',
] as const;
const NAMED = PROTOCOL_METHODS.filter((method) => !['Plugin.Activate', 'VolumeDriver.List', 'VolumeDriver.Capabilities'].includes(method));
const WITH_ID = ['VolumeDriver.Mount', 'VolumeDriver.Unmount'];

export const REQUEST_KINDS = [
  'random bytes', 'truncated JSON', 'wrong type', 'huge string', 'huge body', 'deep nesting', 'not an object',
  'missing field', 'extra field', 'bad option', 'unknown method', 'not POST', 'odd framing', 'hang-up', 'slow writer',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export type Delivery = { how: 'whole' } | { how: 'half-close' } | { how: 'slow'; pieces: number; pauseMs: number } | { how: 'hang up'; afterBytes: number };

export interface HostileRequest {
  kind: RequestKind;
  /** The protocol method, or the path of a request to none. */
  target: string;
  /** The whole request: request line, headers and body. */
  bytes: Buffer;
  delivery: Delivery;
  /**
   * 'json': a JSON answer; 'json or refused': the answer may also be Node's own 4xx or a close (malformed HTTP, or a
   * body over 1 MiB: the daemon answers before reading it and closes, and the client may see the close first); 'none':
   * we hang up.
   */
  expect: 'json' | 'json or refused' | 'none';
  /** What the Err must say when the request is wrong in a known way; absent when it may also succeed. */
  errMentions?: RegExp;
}

export interface HostileOptions {
  /** Names Create may use (they may be created); every other method gets names that never exist. */
  createNames: readonly string[];
  absentNames: readonly string[];
  /** Largest body of the 'huge body' kind; bodies over 1 MiB are refused unread. */
  maxHugeBodyBytes: number;
}

export const MAX_BODY_BYTES = 1024 * 1024;
const BODY_REFUSED = /not JSON|levels deep|JSON objects/;

/** Values of a JSON type no field of the protocol has, or of the right type and wrong anyway. */
const WRONG_VALUES: readonly unknown[] = [
  0, -1, 1.5, 1e308, -1e-7, true, false, null, [], ['a'], {}, [[['x']]], { toString: 1 }, { valueOf: {} }, { Name: 'x' }, '',
];
/** Option values no option accepts. */
export const GARBAGE_VALUES: readonly string[] = [
  '', ' ', '-1', '1.5', '1e3', '0x10', 'NaN', 'Infinity', '99999999999999999999999', '١٢', 'ｔｒｕｅ', '\u0000', 'x'.repeat(5000),
  '${jndi:ldap://x}', '../../etc/passwd', '; rm -rf /', '"', '\\', '\u202e', 'null', '[object Object]',
];
const OPTION_KEYS = ['size', 'volumeType', 'type', 'iops', 'throughput', 'encrypted', 'kmsKeyId', 'encryptionKey', 'availabilityZone', 'az', 'snapshot', 'snapshotId', 'tags', 'fsType', 'mkfsOptions', 'uid', 'gid', 'mode', 'crossAZ'];
const UNKNOWN_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'sizee', 'siz', 'volume-type', 'size\u0000', 'ｓｉｚｅ', ''];
const VALID_OPTIONS: Record<string, string> = { size: '1', fsType: 'xfs', mode: '0755', uid: '1000', encrypted: 'false', tags: 'team=fuzz' };
const ODD_PATHS = ['/VolumeDriver.Frobnicate', '/volumedriver.create', '/VolumeDriver.Create/', '/VolumeDriver.Create/x', '//VolumeDriver.Create', '/', '/Plugin.Deactivate', '/VolumeDriver.', '/..%2f..%2fetc%2fpasswd', `/${'A'.repeat(8000)}`];
const OTHER_VERBS = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

type Body = Record<string, unknown>;

/** Sets a key as an own property, "__proto__" included, so that JSON.stringify writes it. */
function put(object: Body, key: string, value: unknown): Body {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class HostileRequests {
  private readonly dice: Dice;
  private count = 0;

  constructor(seed: number, private readonly options: HostileOptions) {
    this.dice = new Dice(mulberry32(seed));
  }

  private readonly makers: Record<RequestKind, () => HostileRequest> = {
    'random bytes': () => this.randomBytes(),
    'truncated JSON': () => this.truncatedJson(),
    'wrong type': () => this.wrongType(),
    'huge string': () => this.hugeString(),
    'huge body': () => this.hugeBody(),
    'deep nesting': () => this.deepNesting(),
    'not an object': () => this.notAnObject(),
    'missing field': () => this.missingField(),
    'extra field': () => this.extraField(),
    'bad option': () => this.badOption(),
    'unknown method': () => this.unknownMethod(),
    'not POST': () => this.notPost(),
    'odd framing': () => this.oddFraming(),
    'hang-up': () => this.hangUp(),
    'slow writer': () => this.slowWriter(),
  };

  next(): HostileRequest {
    this.count += 1;
    return this.makers[this.dice.pick(WEIGHTED_KINDS)]();
  }

  /** A request of a kind that is answered promptly (for bursts of parallel connections). */
  quick(): HostileRequest {
    this.count += 1;
    return this.makers[this.dice.pick(QUICK_KINDS)]();
  }

  private randomBytes(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const body = this.dice.bytes(this.dice.size(4096));
    return this.post('random bytes', target, body, refusedUnlessObject(body.toString('utf8')));
  }

  private truncatedJson(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const text = JSON.stringify(this.validBody(target));
    return this.post('truncated JSON', target, text.slice(0, this.dice.int(text.length)), refusedUnlessObject(text));
  }

  private wrongType(): HostileRequest {
    const target = this.dice.pick(NAMED);
    const body = this.validBody(target);
    const value = this.dice.pick(WRONG_VALUES);
    const fields = ['Name', ...(WITH_ID.includes(target) ? ['ID'] : []), ...(target === 'VolumeDriver.Create' ? ['Opts', 'option'] : [])];
    const fieldName = this.dice.pick(fields);
    if (fieldName === 'option') {
      const key = this.dice.pick(Object.keys(body.Opts as Body));
      (body.Opts as Body)[key] = value;
      const mentions = value !== null && typeof value === 'object' ? new RegExp(`"${key}": the value must be a string`) : undefined;
      return this.post('wrong type', target, JSON.stringify(body), mentions);
    }
    body[fieldName] = value;
    const mentions: Record<string, RegExp | undefined> = {
      Name: /Name|volume name/,
      ID: /ID/,
      Opts: value === null ? undefined : Array.isArray(value) || typeof value !== 'object' ? /Opts/ : undefined,
    };
    return this.post('wrong type', target, JSON.stringify(body), mentions[fieldName]);
  }

  private hugeString(): HostileRequest {
    const target = this.dice.pick(['VolumeDriver.Create', 'VolumeDriver.Mount', 'VolumeDriver.Get']);
    const body = this.validBody(target);
    // Longer than any name may be, so that as a Name it is refused.
    const huge = this.hugeText(256 + this.dice.size(MAX_BODY_BYTES * 1.2));
    const where = this.dice.pick(['Name', 'ID', 'option key', 'option value', 'extra key']);
    let mentions: RegExp | undefined;
    if (where === 'Name') {
      body.Name = huge;
      mentions = /volume name/;
    } else if (where === 'ID' && target === 'VolumeDriver.Mount') body.ID = huge;
    else if (where === 'option key' && target === 'VolumeDriver.Create') {
      put(body.Opts as Body, huge, 'x');
      mentions = /invalid option/;
    } else if (where === 'option value' && target === 'VolumeDriver.Create') {
      (body.Opts as Body).size = huge;
      mentions = /size: /;
    } else put(body, huge, huge);
    const text = JSON.stringify(body);
    if (Buffer.byteLength(text) <= MAX_BODY_BYTES) return this.post('huge string', target, text, mentions);
    return { ...this.post('huge string', target, text, /larger than/), expect: 'json or refused' };
  }

  private hugeBody(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const size = MAX_BODY_BYTES + this.dice.size(this.options.maxHugeBodyBytes - MAX_BODY_BYTES);
    const body = Buffer.alloc(size, this.dice.pick(['a', ' ', '[', '{"a":']));
    if (this.dice.chance(0.5)) return { ...this.post('huge body', target, body, /larger than/), expect: 'json or refused' };
    return this.request('huge body', 'POST', `/${target}`, ['Transfer-Encoding: chunked'], chunked(body, 65536), 'json or refused', /larger than/, target);
  }

  private deepNesting(): HostileRequest {
    const target = this.dice.pick(NAMED);
    const depth = this.dice.size(6000);
    const nested = `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
    if (this.dice.chance(0.3)) return this.post('deep nesting', target, nested, depth > 32 ? /levels deep/ : /JSON objects/);
    const text = `{"Name":${nested}}`;
    return this.post('deep nesting', target, text, depth + 1 > 32 ? /levels deep/ : /Name/);
  }

  private notAnObject(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const text = this.dice.pick(['[]', '"x"', '5', '-0.5e3', 'true', 'false', '[{"Name":"x"}]', '"{\\"Name\\":\\"x\\"}"']);
    return this.post('not an object', target, text, /JSON objects/);
  }

  private missingField(): HostileRequest {
    const target = this.dice.pick(NAMED);
    const body = this.validBody(target);
    const field = WITH_ID.includes(target) && this.dice.chance(0.5) ? 'ID' : 'Name';
    delete body[field];
    return this.post('missing field', target, JSON.stringify(body), new RegExp(`request has no ${field}`));
  }

  private extraField(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const body = this.validBody(target);
    const count = this.dice.size(5000);
    for (let i = 0; i < count; i++) put(body, this.dice.pick([...UNKNOWN_KEYS, 'NAME', 'name ', `x${i}`, 'Opts ', 'Size ']), this.dice.pick(WRONG_VALUES));
    return this.post('extra field', target, JSON.stringify(body));
  }

  private badOption(): HostileRequest {
    const target = 'VolumeDriver.Create';
    const body = this.validBody(target);
    const opts = body.Opts as Body;
    if (this.dice.chance(0.3)) {
      const key = this.dice.pick(UNKNOWN_KEYS);
      put(opts, key, this.dice.pick(['1', 'x', '']));
      return this.post('bad option', target, JSON.stringify(body), new RegExp(`invalid option ${escape(JSON.stringify(key))}`));
    }
    const key = this.dice.pick(OPTION_KEYS);
    const typed = this.dice.chance(0.3) ? key.toUpperCase() : key;
    for (const given of Object.keys(opts)) if (given.toLowerCase() === key.toLowerCase()) delete opts[given];
    opts[typed] = this.dice.pick(GARBAGE_VALUES);
    return this.post('bad option', target, JSON.stringify(body), new RegExp(`(^|: |; )${escape(typed)}: `));
  }

  private unknownMethod(): HostileRequest {
    const path = this.dice.pick(ODD_PATHS);
    return this.request('unknown method', 'POST', path, ['Content-Length: 2'], Buffer.from('{}'), 'json', /unknown method/, path.slice(0, 40));
  }

  private notPost(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    if (this.dice.chance(0.2)) {
      const verb = this.dice.pick(['FOO', 'post', 'P\u00d6ST']);
      return this.request('not POST', verb, `/${target}`, ['Content-Length: 2'], Buffer.from('{}'), 'json or refused', /unknown method/, target);
    }
    const verb = this.dice.pick(OTHER_VERBS);
    const body = this.dice.chance(0.5) ? '{}' : '';
    return this.request('not POST', verb, `/${target}`, [`Content-Length: ${body.length}`], Buffer.from(body), 'json', /unknown method/, target);
  }

  private oddFraming(): HostileRequest {
    const target = this.dice.pick(PROTOCOL_METHODS);
    const body = Buffer.from(JSON.stringify(this.validBody(target)));
    const n = body.length;
    const variants: Array<() => HostileRequest> = [
      () => this.framed(target, [`Content-Length: ${Math.max(0, n - 1 - this.dice.int(n))}`], body),
      () => ({ ...this.framed(target, [`Content-Length: ${n + 1 + this.dice.size(1000)}`], body), delivery: { how: 'half-close' } }),
      () => this.framed(target, [`Content-Length: ${this.dice.pick(['-1', 'abc', '1e3', '0x10', '', '99999999999999999999', `${n}, ${n + 1}`])}`], body),
      () => this.framed(target, [`Content-Length: ${n}`, `Content-Length: ${n + 5}`], body),
      () => this.framed(target, [], body),
      () => this.framed(target, ['Transfer-Encoding: chunked', `Content-Length: ${n}`], chunked(body, 7)),
      () => this.framed(target, ['Transfer-Encoding: chunked'], Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])),
      () => this.framed(target, ['Transfer-Encoding: gzip, chunked'], chunked(body, 7)),
      () => this.request('odd framing', 'POST', `/${target}`, ['Transfer-Encoding: chunked'], chunked(body, 1 + this.dice.int(8)), 'json', undefined, target),
      () => this.request('odd framing', 'POST', `/${target}`, [`Content-Length: ${n}`, 'Content-Encoding: gzip'], body, 'json', /gzip-encoded/, target),
      () => this.framed(target, [`X-Filler: ${'f'.repeat(20_000)}`, `Content-Length: ${n}`], body),
    ];
    return this.dice.pick(variants)();
  }

  private hangUp(): HostileRequest {
    const request = this.quick();
    return { ...request, kind: 'hang-up', expect: 'none', delivery: { how: 'hang up', afterBytes: this.dice.int(request.bytes.length) } };
  }

  private slowWriter(): HostileRequest {
    const request = this.dice.pick([() => this.wrongType(), () => this.badOption(), () => this.missingField()])();
    return { ...request, kind: 'slow writer', delivery: { how: 'slow', pieces: 2 + this.dice.int(6), pauseMs: 10 + this.dice.int(150) } };
  }

  private validBody(target: string): Body {
    const body: Body = {};
    if (target === 'VolumeDriver.Create') {
      body.Name = this.dice.pick(this.options.createNames);
      body.Opts = Object.fromEntries(Object.entries(VALID_OPTIONS).filter(() => this.dice.chance(0.5)));
      if (Object.keys(body.Opts as Body).length === 0) (body.Opts as Body).size = '1';
    } else if (NAMED.includes(target as (typeof NAMED)[number])) body.Name = this.dice.pick(this.options.absentNames);
    if (WITH_ID.includes(target)) body.ID = `${this.count.toString(16).padStart(8, '0')}${'0'.repeat(56)}`;
    return body;
  }

  private hugeText(length: number): string {
    const unit = this.dice.pick(['a', 'é', '😀', '"', '\\', '\u0000', 'ab/../']);
    return unit.repeat(Math.max(1, Math.floor(length / unit.length)));
  }

  private post(kind: RequestKind, target: string, body: string | Buffer, errMentions?: RegExp): HostileRequest {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    return this.request(kind, 'POST', `/${target}`, [`Content-Length: ${bytes.length}`], bytes, 'json', errMentions, target);
  }

  private framed(target: string, headers: string[], body: Buffer): HostileRequest {
    return this.request('odd framing', 'POST', `/${target}`, headers, body, 'json or refused', undefined, target);
  }

  private request(kind: RequestKind, verb: string, path: string, headers: string[], body: Buffer, expect: HostileRequest['expect'], errMentions: RegExp | undefined, target: string): HostileRequest {
    const head = [`${verb} ${path} HTTP/1.1`, 'Host: plugin.moby.localhost', 'Connection: close', ...headers, '', ''].join('\r\n');
    return { kind, target, bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]), delivery: { how: 'whole' }, expect, errMentions };
  }
}

/** What the daemon must say about a body that is not a JSON object (none when it is one, or empty or null). */
function refusedUnlessObject(text: string): RegExp | undefined {
  if (text.trim() === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed === null || (typeof parsed === 'object' && !Array.isArray(parsed)) ? undefined : BODY_REFUSED;
  } catch {
    return BODY_REFUSED;
  }
}

function chunked(body: Buffer, size: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Each kind's share of the requests, in parts: cheap, varied kinds more often, megabytes and pauses less. */
const WEIGHTS: Record<RequestKind, number> = {
  'random bytes': 8, 'truncated JSON': 8, 'wrong type': 12, 'huge string': 4, 'huge body': 1, 'deep nesting': 5, 'not an object': 3,
  'missing field': 5, 'extra field': 5, 'bad option': 12, 'unknown method': 4, 'not POST': 4, 'odd framing': 8, 'hang-up': 6, 'slow writer': 2,
};
const QUICK_KINDS: readonly RequestKind[] = ['wrong type', 'missing field', 'bad option', 'not an object', 'unknown method', 'truncated JSON'];
const WEIGHTED_KINDS: readonly RequestKind[] = REQUEST_KINDS.flatMap((kind) => Array<RequestKind>(WEIGHTS[kind]).fill(kind));
