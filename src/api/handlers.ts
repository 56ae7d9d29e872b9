/** One handler per protocol method: decode the body, call the volume service, encode the answer. */
import { BerthError } from '../common/errors';
import { clip, quote } from '../common/text';
import type { VolumeOperations, VolumeView } from '../volumes/operations';
import type { VolumeInfo } from './protocol';

export interface CallContext {
  /** Aborts when Docker hangs up before the answer. */
  signal: AbortSignal;
}

type Body = Record<string, unknown>;
export type Handler = (body: Body, context: CallContext) => Promise<Record<string, unknown>>;

/** The methods that stop and roll back when Docker hangs up; the others are quick, or must run to the end. */
export const CANCELLABLE: ReadonlySet<string> = new Set(['mount']);

/** Docker matches JSON field names case-insensitively; so do we. */
function field(body: Body, name: string): unknown {
  if (name in body) return body[name];
  const lower = name.toLowerCase();
  const key = Object.keys(body).find((candidate) => candidate.toLowerCase() === lower);
  return key === undefined ? undefined : body[key];
}

const SHOWN_FIELDS = 8;

/** `empty`: an empty string is passed on (the volume service says what a volume name may be). */
function requiredString(body: Body, name: string, empty: 'refused' | 'passed on' = 'refused'): string {
  const value = field(body, name);
  if (typeof value !== 'string' || (value === '' && empty === 'refused')) {
    const problem = value === undefined ? 'no' : value === '' ? 'an empty' : `a ${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value} as`;
    throw new BerthError('invalid-name', `request has ${problem} ${name}: Docker sent ${describeFields(body)}`);
  }
  return value;
}

const volumeName = (body: Body) => requiredString(body, 'Name', 'passed on');

/** The body's field names, a few and each cut short: a request never gets itself echoed back whole. */
function describeFields(body: Body): string {
  const keys = Object.keys(body);
  if (keys.length === 0) return 'an empty body';
  const shown = keys.slice(0, SHOWN_FIELDS).map((key) => JSON.stringify(clip(key, 40)));
  const more = keys.length > SHOWN_FIELDS ? ` and ${keys.length - SHOWN_FIELDS} more` : '';
  return `the fields ${shown.join(', ')}${more}`;
}

/** A map without a prototype, so a key such as "__proto__" is an option like any other (and refused as unknown). */
function stringMap(body: Body, name: string): Record<string, string> | null {
  const value = field(body, name);
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new BerthError('invalid-option', `${name} must be an object of strings`);
  const map: Record<string, string> = Object.create(null);
  for (const [key, item] of Object.entries(value)) map[key] = optionText(key, item);
  return map;
}

/** Numbers and booleans are taken as their text; a list or an object is no option value (and may not convert). */
function optionText(key: string, item: unknown): string {
  if (typeof item === 'string') return item;
  if (item !== null && typeof item === 'object') {
    const kind = Array.isArray(item) ? 'a list' : 'an object';
    throw new BerthError('invalid-option', `${quote(key, 80)}: the value must be a string (key=value), not ${kind}`);
  }
  return String(item);
}

/** What Docker gets for a volume: an empty Mountpoint or CreatedAt is left out (Docker cannot parse CreatedAt ""). */
function dockerVolume(volume: VolumeView, name = volume.name): VolumeInfo {
  const answer: VolumeInfo = { Name: name };
  if (volume.mountpoint) answer.Mountpoint = volume.mountpoint;
  if (volume.createdAt) answer.CreatedAt = volume.createdAt;
  if (volume.status !== undefined) answer.Status = volume.status;
  return answer;
}

export function handlers(driver: () => Promise<VolumeOperations>): Record<string, Handler> {
  return {
    activate: async () => ({ Implements: ['VolumeDriver'] }),
    capabilities: async () => ({ Capabilities: { Scope: 'global' } }),
    create: async (body) => {
      await (await driver()).create(volumeName(body), stringMap(body, 'Opts'));
      return { Err: '' };
    },
    remove: async (body) => {
      await (await driver()).remove(volumeName(body));
      return { Err: '' };
    },
    mount: async (body, { signal }) => {
      const mountpoint = await (await driver()).mount(volumeName(body), requiredString(body, 'ID'), signal);
      return { Mountpoint: mountpoint, Err: '' };
    },
    unmount: async (body) => {
      await (await driver()).unmount(volumeName(body), requiredString(body, 'ID'));
      return { Err: '' };
    },
    path: async (body) => {
      const mountpoint = await (await driver()).path(volumeName(body));
      return mountpoint ? { Mountpoint: mountpoint, Err: '' } : { Err: '' };
    },
    get: async (body) => {
      const name = volumeName(body);
      const volume = await (await driver()).get(name);
      if (!volume) return { Volume: null, Err: `volume ${name} not found` };
      return { Volume: dockerVolume(volume, name), Err: '' };
    },
    list: async () => listAnswer(await (await driver()).list()),
  };
}

/** Docker's List answer, made once per views array (the service hands back the same array while nothing changed). */
const listAnswers = new WeakMap<VolumeView[], Record<string, unknown>>();

function listAnswer(views: VolumeView[]): Record<string, unknown> {
  let answer = listAnswers.get(views);
  if (!answer) {
    answer = { Volumes: views.map((volume) => dockerVolume(volume)), Err: '' };
    listAnswers.set(views, answer);
  }
  return answer;
}
