/** The CSI door's parts alone: CreateVolume's translation, capacity rounding, paging, statuses, and hostile shapes. */
import { status } from '@grpc/grpc-js';
import { BerthError } from '../../src/common/errors';
import { capabilityProblem } from '../../src/csi/capabilities';
import { createCall, fitsBounds, sizeGiBFor } from '../../src/csi/create-request';
import { stringMap, text } from '../../src/csi/fields';
import { page } from '../../src/csi/paging';
import { HANDLERS } from '../../src/csi/server';
import { CsiRefusal, csiStatus, MAX_STATUS_MESSAGE_CHARS } from '../../src/csi/status';
import type { ClusterOperations } from '../../src/volumes/operations';

const GIB = 2 ** 30;
const WRITER = { mount: { fs_type: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' }, access_type: 'mount' };

describe('createCall', () => {
  it('turns a request into a name and options, leaving the request untouched', () => {
    const request = { name: 'data', volume_capabilities: [{ ...WRITER, mount: { fs_type: ' xfs ' } }], parameters: { type: 'gp3' }, capacity_range: { required_bytes: 3 * GIB, limit_bytes: 0 } };
    const call = createCall(request);
    expect(call).toEqual({ name: 'data', options: { type: 'gp3', size: '3', fstype: 'xfs' }, bounds: { requiredBytes: 3 * GIB, limitBytes: 0 }, contentSource: undefined });
    expect(Object.getPrototypeOf(call.options)).toBeNull();
    expect(request.parameters).toEqual({ type: 'gp3' });
  });

  it('keeps a "__proto__" parameter as an option like any other', () => {
    const parameters = JSON.parse('{"__proto__": "x", "size": "2"}');
    expect(Object.keys(createCall({ name: 'data', volume_capabilities: [WRITER], parameters }).options)).toEqual(['__proto__', 'size']);
  });
});

describe('capacity', () => {
  it.each([
    [0, 0, 1],
    [1, 0, 1],
    [GIB - 1, 0, 1],
    [GIB, GIB, 1],
    [GIB + 1, 0, 2],
    [16 * 1024 * GIB, 0, 16 * 1024],
  ])('rounds required %d (limit %d) up to %d GiB', (requiredBytes, limitBytes, sizeGiB) => {
    expect(sizeGiBFor({ requiredBytes, limitBytes })).toBe(sizeGiB);
  });

  it('is OUT_OF_RANGE when the rounded size passes the limit', () => {
    expect(() => sizeGiBFor({ requiredBytes: GIB + 1, limitBytes: 2 * GIB - 1 })).toThrow(expect.objectContaining({ code: status.OUT_OF_RANGE }));
  });

  it('says whether an existing size fits the range', () => {
    expect(fitsBounds(10, { requiredBytes: 10 * GIB, limitBytes: 0 })).toBe(true);
    expect(fitsBounds(10, { requiredBytes: 10 * GIB + 1, limitBytes: 0 })).toBe(false);
    expect(fitsBounds(10, { requiredBytes: 0, limitBytes: 10 * GIB - 1 })).toBe(false);
  });
});

describe('capabilities', () => {
  it('names what it cannot serve', () => {
    expect(capabilityProblem(WRITER, 'c')).toBeUndefined();
    expect(capabilityProblem({ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }, 'c')).toBe('c: berth serves filesystems, not raw block volumes');
    expect(capabilityProblem({ mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } }, 'c')).toContain('MULTI_NODE_READER_ONLY');
    expect(capabilityProblem('mount', 'c')).toBe('c must be a message');
    expect(capabilityProblem({ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER_PLUS' } }, 'c')).toContain('not one berth knows');
  });
});

describe('paging', () => {
  const items = ['a', 'b', 'c'];

  it('pages by offset', () => {
    expect(page(items, 2, '')).toEqual({ items: ['a', 'b'], nextToken: '2' });
    expect(page(items, 2, '2')).toEqual({ items: ['c'], nextToken: '' });
    expect(page(items, 0, '1')).toEqual({ items: ['b', 'c'], nextToken: '' });
    expect(page(items, 5, '3')).toEqual({ items: [], nextToken: '' });
    expect(page([], 0, '')).toEqual({ items: [], nextToken: '' });
  });

  it.each(['4', 'abc', ' 1', '1e2', '-0'])('answers ABORTED for the token %p', (token) => {
    expect(() => page(items, 0, token)).toThrow(expect.objectContaining({ code: status.ABORTED }));
  });
});

describe('statuses', () => {
  it('bounds every message', () => {
    const long = 'y'.repeat(MAX_STATUS_MESSAGE_CHARS * 2);
    for (const error of [new BerthError('cloud', long), new CsiRefusal(status.INVALID_ARGUMENT, long), new Error(long), long]) {
      expect(csiStatus(error).details.length).toBeLessThan(MAX_STATUS_MESSAGE_CHARS + 50);
    }
  });
});

describe('requests of unexpected shapes', () => {
  it('refuses a field of the wrong type with INVALID_ARGUMENT', () => {
    expect(() => text({ name: 42 }, 'name')).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT }));
    expect(() => stringMap({ parameters: ['a'] }, 'parameters')).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT }));
    expect(() => stringMap({ parameters: { a: 1 } }, 'parameters')).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT }));
  });

  const junk: unknown[] = [null, 7, -1, 1.5, 'x', true, [], [null], [7], {}, { mount: 'x' }, { access_mode: [] }, { snapshot: 'x' }, { volume: {} }];
  const fields = [
    'name',
    'volume_id',
    'node_id',
    'target_path',
    'staging_target_path',
    'volume_capability',
    'volume_capabilities',
    'capacity_range',
    'parameters',
    'publish_context',
    'volume_content_source',
    'readonly',
    'max_entries',
    'starting_token',
  ];
  const base = { name: 'data', volume_id: 'data', node_id: 'i-1', target_path: '/t', staging_target_path: '/s', volume_capability: WRITER, volume_capabilities: [WRITER] };
  const operations = async () =>
    new Proxy({} as ClusterOperations, {
      get: (_target, property) => (property === 'then' ? undefined : async () => (property === 'listVolumes' ? [] : property === 'node' ? undefined : {})),
    });

  it('never throws anything but a refusal or a berth error from any handler', async () => {
    const unexpected: string[] = [];
    for (const [service, handlers] of Object.entries(HANDLERS)) {
      for (const [method, handler] of Object.entries(handlers)) {
        if (method === 'NodeGetInfo') continue;
        for (const field of fields) {
          for (const value of junk) {
            try {
              await handler({ request: { ...base, [field]: value }, signal: new AbortController().signal, operations });
            } catch (error) {
              const code = csiStatus(error).code;
              if (!(error instanceof CsiRefusal || error instanceof BerthError) || code === status.INTERNAL) {
                unexpected.push(`${service}.${method} with ${field}=${JSON.stringify(value)}: ${String(error)}`);
              }
            }
          }
        }
      }
    }
    expect(unexpected).toEqual([]);
  });
});
