/**
 * The CSI door end to end: a real grpc-js client, loading the same definition, against serveCsi on a unix socket,
 * with a fake ClusterOperations that records what it is asked.
 */
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BerthError, ValidationError, type ErrorCode } from '../../src/common/errors';
import { ZONE_SEGMENT } from '../../src/csi/answers';
import { CSI_SERVICES, csiPackage, csiService } from '../../src/csi/definition';
import { PLUGIN_NAME } from '../../src/csi/identity';
import { HANDLERS, serveCsi, type CsiServer } from '../../src/csi/server';
import { BERTH_VERSION } from '../../src/version';
import type { ClusterNode, ClusterOperations, ClusterVolume } from '../../src/volumes/operations';
import { capturingLogger } from '../support/logs';
import { waitFor } from '../support/poll';

const GIB = 2 ** 30;
const MOUNT_WRITER = { mount: { fs_type: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const SECRET = 'hunter2-do-not-log-me';

type Recorded = [string, ...unknown[]];

class FakeCluster implements ClusterOperations {
  readonly calls: Recorded[] = [];
  readonly volumes = new Map<string, ClusterVolume>();
  /** Thrown by every operation when set. */
  failure?: unknown;
  /** When set, publishToNode and stage wait for their signal and record its reason. */
  waitForAbort = false;
  readonly abortReasons: unknown[] = [];

  private async record(name: string, ...args: unknown[]): Promise<void> {
    this.calls.push([name, ...args]);
    if (this.failure) throw this.failure;
  }

  private async untilAborted(signal: AbortSignal): Promise<void> {
    if (!this.waitForAbort) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.abortReasons.push(signal.reason);
    throw signal.reason;
  }

  add(volume: Partial<ClusterVolume> & { name: string }): ClusterVolume {
    const full = { volumeId: `vol-${volume.name}`, sizeGiB: 16, availabilityZone: 'us-east-1a', attachedTo: [], ...volume };
    this.volumes.set(full.name, full);
    return full;
  }

  async createVolume(name: string, options: Record<string, string>) {
    await this.record('createVolume', name, { ...options });
    return this.volumes.get(name) ?? this.add({ name, sizeGiB: options.size ? Number(options.size) : 16 });
  }
  async deleteVolume(name: string) {
    await this.record('deleteVolume', name);
  }
  async describeVolume(name: string) {
    await this.record('describeVolume', name);
    return this.volumes.get(name);
  }
  async listVolumes() {
    await this.record('listVolumes');
    return [...this.volumes.values()];
  }
  async publishToNode(name: string, nodeId: string, signal: AbortSignal) {
    await this.record('publishToNode', name, nodeId, signal.aborted);
    await this.untilAborted(signal);
    return { volumeId: `vol-${name}`, device: '/dev/xvdf' };
  }
  async unpublishFromNode(name: string, nodeId: string, signal: AbortSignal) {
    await this.record('unpublishFromNode', name, nodeId, signal.aborted);
  }
  async stage(name: string, publishContext: Record<string, string>, stagingPath: string, signal: AbortSignal) {
    await this.record('stage', name, { ...publishContext }, stagingPath, signal.aborted);
    await this.untilAborted(signal);
  }
  async unstage(name: string, stagingPath: string) {
    await this.record('unstage', name, stagingPath);
  }
  async publish(name: string, stagingPath: string, targetPath: string, readonly: boolean) {
    await this.record('publish', name, stagingPath, targetPath, readonly);
  }
  async unpublish(name: string, targetPath: string) {
    await this.record('unpublish', name, targetPath);
  }
  node(): ClusterNode {
    this.calls.push(['node']);
    return { nodeId: 'i-0123456789abcdef0', availabilityZone: 'us-east-1b', maxVolumes: 25 };
  }
}

let dir: string;
let socketPath: string;
let fake: FakeCluster;
let ready: () => Promise<ClusterOperations>;
let server: CsiServer;
let logs: ReturnType<typeof capturingLogger>;
const clients: Record<string, Client> = {};

type Answer = Record<string, any>;

function rpc(service: 'Identity' | 'Controller' | 'Node', method: string, request: object = {}, deadlineMs?: number): Promise<Answer> {
  const client = clients[service] as unknown as Record<string, Function>;
  const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  return new Promise((resolve, reject) => client[method](request, options, (error: ServiceError | null, answer: Answer) => (error ? reject(error) : resolve(answer))));
}

async function refusal(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

const create = (request: object) => rpc('Controller', 'CreateVolume', { name: 'data', volume_capabilities: [MOUNT_WRITER], ...request });
const callsOf = (operation: string) => fake.calls.filter(([name]) => name === operation);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-csi-'));
  socketPath = path.join(dir, 'csi.sock');
  logs = capturingLogger();
  server = await serveCsi(socketPath, () => ready(), logs.logger);
  const v1 = (csiPackage().csi as any).v1;
  for (const service of CSI_SERVICES) clients[service] = new v1[service](`unix://${socketPath}`, credentials.createInsecure());
});

beforeEach(() => {
  fake = new FakeCluster();
  ready = async () => fake;
});

afterAll(async () => {
  for (const client of Object.values(clients)) client.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the CSI definition', () => {
  it('has a handler for every method of every service, and a method for every handler', () => {
    for (const service of CSI_SERVICES) expect(Object.keys(HANDLERS[service]).sort()).toEqual(Object.keys(csiService(service)).sort());
  });
});

describe('Identity', () => {
  it('names the plugin and its version', async () => {
    expect(await rpc('Identity', 'GetPluginInfo')).toEqual({ name: PLUGIN_NAME, vendor_version: BERTH_VERSION, manifest: {} });
    expect(PLUGIN_NAME).toBe('berth.ebs.csi');
  });

  it('offers the controller service and topology', async () => {
    const { capabilities } = await rpc('Identity', 'GetPluginCapabilities');
    expect(capabilities.map((capability: Answer) => capability.service.type)).toEqual(['CONTROLLER_SERVICE', 'VOLUME_ACCESSIBILITY_CONSTRAINTS']);
  });

  it('answers Probe ready without waiting for the volume service', async () => {
    ready = () => Promise.reject(new BerthError('not-ready', 'still connecting to EC2'));
    expect(await rpc('Identity', 'Probe')).toEqual({ ready: { value: true } });
  });
});

describe('CreateVolume', () => {
  it('creates the volume with the parameters as options, and answers it with its zone', async () => {
    const answer = await create({ parameters: { volumeType: 'io2', iops: '4000' }, capacity_range: { required_bytes: 10 * GIB - 1 } });
    expect(fake.calls).toEqual([['createVolume', 'data', { volumeType: 'io2', iops: '4000', size: '10' }]]);
    expect(answer.volume).toEqual({
      volume_id: 'data',
      capacity_bytes: 10 * GIB,
      volume_context: { volumeId: 'vol-data' },
      accessible_topology: [{ segments: { [ZONE_SEGMENT]: 'us-east-1a' } }],
      content_source: null,
    });
    expect(ZONE_SEGMENT).toBe('topology.ebs.csi.berth/zone');
  });

  it("leaves the size to berth's default without a capacity range (or one of zeros)", async () => {
    await create({});
    await create({ name: 'other', capacity_range: { required_bytes: 0, limit_bytes: 0 } });
    expect(callsOf('createVolume')).toEqual([
      ['createVolume', 'data', {}],
      ['createVolume', 'other', {}],
    ]);
  });

  it.each([
    [1, 0, '1'],
    [GIB, 0, '1'],
    [GIB + 1, 0, '2'],
    [5 * GIB, 5 * GIB, '5'],
    [0, 3 * GIB, '1'],
    [100 * GIB - 7, 200 * GIB, '100'],
  ])('rounds required_bytes %d (limit %d) up to whole GiB: size=%s', async (requiredBytes, limitBytes, size) => {
    const answer = await create({ capacity_range: { required_bytes: requiredBytes, limit_bytes: limitBytes } });
    expect(fake.calls).toEqual([['createVolume', 'data', { size }]]);
    expect(answer.volume.capacity_bytes).toBe(Number(size) * GIB);
  });

  it.each([
    [GIB + 1, GIB + GIB / 2],
    [0, 1000],
    [3 * GIB - 1, 2 * GIB],
  ])('answers OUT_OF_RANGE when required_bytes %d rounded up exceeds limit_bytes %d, making nothing', async (requiredBytes, limitBytes) => {
    const error = await refusal(create({ capacity_range: { required_bytes: requiredBytes, limit_bytes: limitBytes } }));
    expect(error.code).toBe(status.OUT_OF_RANGE);
    expect(error.details).toContain('limit_bytes');
    expect(fake.calls).toEqual([]);
  });

  it('answers ALREADY_EXISTS when the volume of that name is outside the capacity range', async () => {
    fake.add({ name: 'data', sizeGiB: 20 });
    const error = await refusal(create({ capacity_range: { required_bytes: GIB, limit_bytes: 10 * GIB } }));
    expect(error.code).toBe(status.ALREADY_EXISTS);
    expect(error.details).toContain('20 GiB');
  });

  it.each(['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER'])('accepts access mode %s', async (mode) => {
    await create({ volume_capabilities: [{ mount: {}, access_mode: { mode } }] });
    expect(callsOf('createVolume')).toHaveLength(1);
  });

  it.each(['MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER'])('refuses access mode %s, naming it, and makes nothing', async (mode) => {
    const error = await refusal(create({ volume_capabilities: [MOUNT_WRITER, { mount: {}, access_mode: { mode } }] }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(mode);
    expect(error.details).toContain('volume_capabilities[1]');
    expect(error.details).toContain('one instance at a time');
    expect(fake.calls).toEqual([]);
  });

  it.each([
    ['no name', { name: '' }, 'name is required'],
    ['no capabilities', { volume_capabilities: [] }, 'volume_capabilities is required'],
    ['a block volume', { volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }, 'berth serves filesystems, not raw block volumes'],
    ['neither mount nor block', { volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }, 'names neither mount nor block'],
    ['no access mode', { volume_capabilities: [{ mount: {} }] }, 'has no access mode'],
    ['access mode UNKNOWN', { volume_capabilities: [{ mount: {}, access_mode: { mode: 'UNKNOWN' } }] }, 'has no access mode'],
    ['an access mode the spec does not know', { volume_capabilities: [{ mount: {}, access_mode: { mode: 99 } }] }, 'access mode "99"'],
    ['a negative required_bytes', { capacity_range: { required_bytes: -1 } }, 'must not be negative'],
    ['size and a capacity range', { parameters: { ' Size ': '20' }, capacity_range: { required_bytes: GIB } }, 'give the size once'],
    ['two filesystems', { volume_capabilities: [{ ...MOUNT_WRITER, mount: { fs_type: 'xfs' } }, { ...MOUNT_WRITER, mount: { fs_type: 'ext4' } }] }, 'different filesystems'],
    ['an fstype parameter against the capability', { parameters: { fsType: 'ext4' }, volume_capabilities: [{ ...MOUNT_WRITER, mount: { fs_type: 'xfs' } }] }, 'disagree'],
    ['a volume to clone', { volume_content_source: { volume: { volume_id: 'other' } } }, 'does not clone volumes'],
    ['a snapshot source without an id', { volume_content_source: { snapshot: { snapshot_id: '' } } }, 'snapshot_id is required'],
    ['a snapshot parameter against the source', { parameters: { snapshotId: 'snap-1' }, volume_content_source: { snapshot: { snapshot_id: 'snap-2' } } }, 'different snapshots'],
  ])('refuses %s with INVALID_ARGUMENT and makes nothing', async (_what, request, message) => {
    const error = await refusal(create(request));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(message);
    expect(fake.calls).toEqual([]);
  });

  it("passes a size parameter as it is, and the capability's fs_type as fstype", async () => {
    await create({ parameters: { size: '30' }, volume_capabilities: [{ ...MOUNT_WRITER, mount: { fs_type: 'xfs' } }] });
    await create({ name: 'same', parameters: { FSTYPE: 'XFS' }, volume_capabilities: [{ ...MOUNT_WRITER, mount: { fs_type: 'xfs' } }] });
    expect(callsOf('createVolume')).toEqual([
      ['createVolume', 'data', { size: '30', fstype: 'xfs' }],
      ['createVolume', 'same', { FSTYPE: 'XFS' }],
    ]);
  });

  it('creates from a snapshot source, echoing it, and ignores accessibility requirements for placement', async () => {
    const topology = { segments: { [ZONE_SEGMENT]: 'us-east-1c' } };
    const answer = await create({
      volume_content_source: { snapshot: { snapshot_id: 'snap-0abc' } },
      accessibility_requirements: { requisite: [topology], preferred: [topology] },
    });
    expect(fake.calls).toEqual([['createVolume', 'data', { snapshot: 'snap-0abc' }]]);
    expect(answer.volume.content_source).toEqual({ snapshot: { snapshot_id: 'snap-0abc' }, type: 'snapshot' });
    expect(answer.volume.accessible_topology).toEqual([{ segments: { [ZONE_SEGMENT]: 'us-east-1a' } }]);
  });
});

describe('the other Controller calls', () => {
  it('offers create/delete, publish/unpublish and list', async () => {
    const { capabilities } = await rpc('Controller', 'ControllerGetCapabilities');
    expect(capabilities.map((capability: Answer) => capability.rpc.type)).toEqual(['CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES']);
  });

  it('deletes by volume id, which is the name', async () => {
    expect(await rpc('Controller', 'DeleteVolume', { volume_id: 'data' })).toEqual({});
    expect(fake.calls).toEqual([['deleteVolume', 'data']]);
    expect((await refusal(rpc('Controller', 'DeleteVolume', {}))).details).toContain('volume_id is required');
  });

  it('publishes to a node, answering the publish context; readonly is accepted', async () => {
    const answer = await rpc('Controller', 'ControllerPublishVolume', { volume_id: 'data', node_id: 'i-1', volume_capability: MOUNT_WRITER, readonly: true });
    expect(answer).toEqual({ publish_context: { volumeId: 'vol-data', device: '/dev/xvdf' } });
    expect(fake.calls).toEqual([['publishToNode', 'data', 'i-1', false]]);
  });

  it.each([
    ['volume_id', { node_id: 'i-1', volume_capability: MOUNT_WRITER }],
    ['node_id', { volume_id: 'data', volume_capability: MOUNT_WRITER }],
    ['volume_capability', { volume_id: 'data', node_id: 'i-1' }],
  ])('refuses a publish without %s', async (field, request) => {
    const error = await refusal(rpc('Controller', 'ControllerPublishVolume', request));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(`${field} is required`);
    expect(fake.calls).toEqual([]);
  });

  it("aborts the publish's signal when the call's deadline passes", async () => {
    fake.waitForAbort = true;
    const error = await refusal(rpc('Controller', 'ControllerPublishVolume', { volume_id: 'data', node_id: 'i-1', volume_capability: MOUNT_WRITER }, 300));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    const [reason] = await waitFor('the publish to be aborted', () => fake.abortReasons.length > 0 && fake.abortReasons, { timeoutMs: 5_000, intervalMs: 20 });
    expect(reason).toBeInstanceOf(BerthError);
    expect((reason as BerthError).code).toBe('timeout');
  });

  it("aborts the stage's signal when the caller cancels", async () => {
    fake.waitForAbort = true;
    const client = clients.Node as unknown as Record<string, Function>;
    const call = client.NodeStageVolume({ volume_id: 'data', staging_target_path: '/staged', volume_capability: MOUNT_WRITER }, () => undefined);
    await waitFor('the stage to start', () => callsOf('stage').length > 0, { timeoutMs: 5_000, intervalMs: 20 });
    call.cancel();
    await waitFor('the stage to be aborted', () => fake.abortReasons.length > 0, { timeoutMs: 5_000, intervalMs: 20 });
  });

  it('unpublishes from the node named, or from every node it is attached to', async () => {
    fake.add({ name: 'data', attachedTo: ['i-1', 'i-2'] });
    await rpc('Controller', 'ControllerUnpublishVolume', { volume_id: 'data', node_id: 'i-3' });
    await rpc('Controller', 'ControllerUnpublishVolume', { volume_id: 'data' });
    await rpc('Controller', 'ControllerUnpublishVolume', { volume_id: 'gone' });
    expect(fake.calls).toEqual([
      ['unpublishFromNode', 'data', 'i-3', false],
      ['describeVolume', 'data'],
      ['unpublishFromNode', 'data', 'i-1', false],
      ['unpublishFromNode', 'data', 'i-2', false],
      ['describeVolume', 'gone'],
    ]);
    expect((await refusal(rpc('Controller', 'ControllerUnpublishVolume', { node_id: 'i-1' }))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('confirms capabilities berth serves, says which it does not, and answers NOT_FOUND for no volume', async () => {
    fake.add({ name: 'data' });
    const confirmed = await rpc('Controller', 'ValidateVolumeCapabilities', { volume_id: 'data', volume_capabilities: [MOUNT_WRITER], parameters: { size: '3' } });
    expect(confirmed.message).toBe('');
    expect(confirmed.confirmed.volume_capabilities).toEqual([expect.objectContaining({ access_mode: { mode: 'SINGLE_NODE_WRITER' }, access_type: 'mount' })]);

    const multi = { mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
    const refused = await rpc('Controller', 'ValidateVolumeCapabilities', { volume_id: 'data', volume_capabilities: [MOUNT_WRITER, multi] });
    expect(refused.confirmed).toBeNull();
    expect(refused.message).toContain('volume_capabilities[1]: access mode MULTI_NODE_MULTI_WRITER is not offered');

    expect((await refusal(rpc('Controller', 'ValidateVolumeCapabilities', { volume_id: 'nope', volume_capabilities: [MOUNT_WRITER] }))).code).toBe(status.NOT_FOUND);
    expect((await refusal(rpc('Controller', 'ValidateVolumeCapabilities', { volume_id: 'data' }))).code).toBe(status.INVALID_ARGUMENT);
  });

  it('lists volumes in pages, with the nodes each is published on', async () => {
    for (const name of ['e', 'c', 'a', 'd', 'b']) fake.add({ name, attachedTo: name === 'b' ? ['i-1'] : [] });
    const first = await rpc('Controller', 'ListVolumes', { max_entries: 2 });
    expect(first.entries.map((entry: Answer) => entry.volume.volume_id)).toEqual(['a', 'b']);
    expect(first.entries[1].status).toEqual({ published_node_ids: ['i-1'] });
    expect(first.entries[1].volume.volume_context).toEqual({ volumeId: 'vol-b' });
    expect(first.next_token).toBe('2');
    const second = await rpc('Controller', 'ListVolumes', { max_entries: 2, starting_token: first.next_token });
    expect(second.entries.map((entry: Answer) => entry.volume.volume_id)).toEqual(['c', 'd']);
    const last = await rpc('Controller', 'ListVolumes', { max_entries: 2, starting_token: second.next_token });
    expect(last.entries.map((entry: Answer) => entry.volume.volume_id)).toEqual(['e']);
    expect(last.next_token).toBe('');
    const all = await rpc('Controller', 'ListVolumes', {});
    expect(all.entries).toHaveLength(5);
    expect(all.next_token).toBe('');
  });

  it.each(['x', '-1', '6', '1.5', '99999999999999999999'])('answers ABORTED for the starting token %p', async (token) => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) fake.add({ name });
    const error = await refusal(rpc('Controller', 'ListVolumes', { starting_token: token }));
    expect(error.code).toBe(status.ABORTED);
  });

  it('refuses a negative max_entries', async () => {
    expect((await refusal(rpc('Controller', 'ListVolumes', { max_entries: -1 }))).code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('Node', () => {
  it('offers stage/unstage and tells the node id, its volume limit and zone', async () => {
    const { capabilities } = await rpc('Node', 'NodeGetCapabilities');
    expect(capabilities).toEqual([{ rpc: { type: 'STAGE_UNSTAGE_VOLUME' }, type: 'rpc' }]);
    expect(await rpc('Node', 'NodeGetInfo')).toEqual({
      node_id: 'i-0123456789abcdef0',
      max_volumes_per_node: 25,
      accessible_topology: { segments: { [ZONE_SEGMENT]: 'us-east-1b' } },
    });
  });

  it('stages, publishes, unpublishes and unstages', async () => {
    await rpc('Node', 'NodeStageVolume', { volume_id: 'data', publish_context: { device: '/dev/xvdf' }, staging_target_path: '/staged/1', volume_capability: MOUNT_WRITER });
    await rpc('Node', 'NodePublishVolume', { volume_id: 'data', staging_target_path: '/staged/1', target_path: '/published/1', volume_capability: MOUNT_WRITER, readonly: true });
    await rpc('Node', 'NodeUnpublishVolume', { volume_id: 'data', target_path: '/published/1' });
    await rpc('Node', 'NodeUnstageVolume', { volume_id: 'data', staging_target_path: '/staged/1' });
    expect(fake.calls).toEqual([
      ['stage', 'data', { device: '/dev/xvdf' }, '/staged/1', false],
      ['publish', 'data', '/staged/1', '/published/1', true],
      ['unpublish', 'data', '/published/1'],
      ['unstage', 'data', '/staged/1'],
    ]);
  });

  const stage = { volume_id: 'data', staging_target_path: '/staged/1', volume_capability: MOUNT_WRITER };
  const publish = { ...stage, target_path: '/published/1' };
  it.each([
    ['NodeStageVolume', 'volume_id', stage],
    ['NodeStageVolume', 'staging_target_path', stage],
    ['NodeStageVolume', 'volume_capability', stage],
    ['NodePublishVolume', 'volume_id', publish],
    ['NodePublishVolume', 'target_path', publish],
    ['NodePublishVolume', 'staging_target_path', publish],
    ['NodePublishVolume', 'volume_capability', publish],
    ['NodeUnpublishVolume', 'target_path', { volume_id: 'data', target_path: '/published/1' }],
    ['NodeUnpublishVolume', 'volume_id', { volume_id: 'data', target_path: '/published/1' }],
    ['NodeUnstageVolume', 'staging_target_path', { volume_id: 'data', staging_target_path: '/staged/1' }],
    ['NodeUnstageVolume', 'volume_id', { volume_id: 'data', staging_target_path: '/staged/1' }],
  ])('refuses %s without %s', async (method, missing, complete) => {
    const request: Record<string, unknown> = { ...complete };
    delete request[missing];
    const error = await refusal(rpc('Node', method, request));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(`${missing} is required`);
    expect(fake.calls).toEqual([]);
  });

  it('refuses to stage a block volume', async () => {
    const error = await refusal(rpc('Node', 'NodeStageVolume', { ...stage, volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(fake.calls).toEqual([]);
  });
});

describe('errors', () => {
  it.each<[ErrorCode, keyof typeof status]>([
    ['invalid-name', 'INVALID_ARGUMENT'],
    ['invalid-option', 'INVALID_ARGUMENT'],
    ['not-found', 'NOT_FOUND'],
    ['in-use', 'FAILED_PRECONDITION'],
    ['attached-elsewhere', 'FAILED_PRECONDITION'],
    ['zone-mismatch', 'FAILED_PRECONDITION'],
    ['capacity', 'RESOURCE_EXHAUSTED'],
    ['timeout', 'DEADLINE_EXCEEDED'],
    ['not-ready', 'UNAVAILABLE'],
    ['cloud', 'INTERNAL'],
    ['host', 'INTERNAL'],
    ['filesystem', 'INTERNAL'],
    ['internal', 'INTERNAL'],
  ])("answers berth's %s as gRPC status %s, with its message", async (code, expected) => {
    fake.failure = new BerthError(code, `it went wrong: ${code}`);
    const error = await refusal(rpc('Controller', 'ControllerPublishVolume', { volume_id: 'data', node_id: 'i-1', volume_capability: MOUNT_WRITER }));
    expect(error.code).toBe(status[expected]);
    expect(error.details).toBe(`it went wrong: ${code}`);
  });

  it('answers a ValidationError as INVALID_ARGUMENT, anything else as INTERNAL, bounding the message', async () => {
    fake.failure = new ValidationError('size', 'size must be a whole number of GiB');
    expect(await refusal(create({}))).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'size must be a whole number of GiB' });
    fake.failure = new TypeError('x'.repeat(10_000));
    const error = await refusal(create({}));
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details.startsWith('berth: internal error: xxx')).toBe(true);
    expect(error.details.length).toBeLessThan(2_100);
  });

  it('answers UNAVAILABLE while the volume service is not ready', async () => {
    ready = () => Promise.reject(new BerthError('not-ready', 'berth is not ready yet: still connecting to EC2'));
    const error = await refusal(rpc('Node', 'NodeGetInfo'));
    expect(error).toMatchObject({ code: status.UNAVAILABLE, details: 'berth is not ready yet: still connecting to EC2' });
  });

  it('answers INVALID_ARGUMENT for bytes that do not decode, and goes on serving', async () => {
    const client = clients.Controller;
    for (const bytes of [[0x0a, 0xff, 0xff], [0x08, 0x01], [0x1a, 0x05, 0x12, 0x03]]) {
      const error = await new Promise<ServiceError>((resolve) =>
        client.makeUnaryRequest('/csi.v1.Controller/CreateVolume', (raw: Buffer) => raw, (raw: Buffer) => raw, Buffer.from(bytes), (err) => resolve(err as ServiceError)),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
    }
    expect(fake.calls).toEqual([]);
    expect(await rpc('Identity', 'Probe')).toEqual({ ready: { value: true } });
  });
});

describe('the log', () => {
  const linesSince = (start: number) => logs.lines.slice(start);

  it('has one line per call with method, volume, outcome and ms', async () => {
    const start = logs.lines.length;
    await create({});
    await refusal(rpc('Controller', 'DeleteVolume', {}));
    const lines = await waitFor('two call lines', () => linesSince(start).length >= 2 && linesSince(start), { timeoutMs: 5_000, intervalMs: 20 });
    expect(lines[0]).toMatchObject({ level: 'info', message: 'csi call', method: 'CreateVolume', volume: 'data', outcome: 'ok' });
    expect(typeof lines[0].ms).toBe('number');
    expect(lines[1]).toMatchObject({ level: 'info', method: 'DeleteVolume', outcome: 'INVALID_ARGUMENT', error: 'volume_id is required' });
  });

  it('bounds a long volume name', async () => {
    const start = logs.lines.length;
    await rpc('Controller', 'DeleteVolume', { volume_id: 'v'.repeat(5_000) });
    const [line] = await waitFor('the call line', () => linesSince(start).length > 0 && linesSince(start), { timeoutMs: 5_000, intervalMs: 20 });
    expect(line.volume.length).toBeLessThan(400);
  });

  it('never shows a secret, whatever call carries it and however it ends', async () => {
    const secrets = { password: SECRET, [SECRET]: SECRET };
    const start = logs.lines.length;
    await create({ secrets, parameters: { size: '3' } });
    await refusal(create({ secrets, name: '' }));
    await rpc('Controller', 'DeleteVolume', { volume_id: 'data', secrets });
    await rpc('Controller', 'ControllerPublishVolume', { volume_id: 'data', node_id: 'i-1', volume_capability: MOUNT_WRITER, secrets });
    await rpc('Controller', 'ControllerUnpublishVolume', { volume_id: 'data', node_id: 'i-1', secrets });
    await rpc('Controller', 'ValidateVolumeCapabilities', { volume_id: 'data', volume_capabilities: [MOUNT_WRITER], secrets });
    await rpc('Node', 'NodeStageVolume', { volume_id: 'data', staging_target_path: '/s', volume_capability: MOUNT_WRITER, secrets });
    await rpc('Node', 'NodePublishVolume', { volume_id: 'data', staging_target_path: '/s', target_path: '/t', volume_capability: MOUNT_WRITER, secrets });
    fake.failure = new BerthError('cloud', 'EC2 said no');
    await refusal(rpc('Node', 'NodeStageVolume', { volume_id: 'data', staging_target_path: '/s', volume_capability: MOUNT_WRITER, secrets }));
    const lines = await waitFor('nine call lines', () => linesSince(start).length >= 9 && linesSince(start), { timeoutMs: 5_000, intervalMs: 20 });
    expect(JSON.stringify(lines)).not.toContain(SECRET);
    expect(JSON.stringify(fake.calls)).not.toContain(SECRET);
  });
});

describe('the socket', () => {
  it('is mode 0600', () => {
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it('replaces a stale socket file, refuses a live one and anything that is not a socket', async () => {
    const stale = path.join(dir, 'stale.sock');
    // A process killed while listening leaves its socket file behind.
    const listenAndDie = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    expect(() => execFileSync(process.execPath, ['-e', listenAndDie], { stdio: 'ignore' })).toThrow();
    expect(fs.lstatSync(stale).isSocket()).toBe(true);
    const replaced = await serveCsi(stale, () => ready(), logs.logger);
    await expect(serveCsi(stale, () => ready(), logs.logger)).rejects.toThrow(/another process is serving/);
    await replaced.close();
    expect(fs.existsSync(stale)).toBe(false);

    const plain = path.join(dir, 'plain-file');
    fs.writeFileSync(plain, 'keep me');
    await expect(serveCsi(plain, () => ready(), logs.logger)).rejects.toThrow(/is not a socket/);
    expect(fs.readFileSync(plain, 'utf8')).toBe('keep me');
  });

  it('aborts calls in progress when it closes', async () => {
    const socket = path.join(dir, 'closing.sock');
    const closing = await serveCsi(socket, () => ready(), logs.logger);
    const v1 = (csiPackage().csi as any).v1;
    const client = new v1.Controller(`unix://${socket}`, credentials.createInsecure());
    fake.waitForAbort = true;
    const answered = new Promise<ServiceError | null>((resolve) =>
      client.ControllerPublishVolume({ volume_id: 'data', node_id: 'i-1', volume_capability: MOUNT_WRITER }, (error: ServiceError | null) => resolve(error)),
    );
    await waitFor('the publish to start', () => callsOf('publishToNode').length > 0, { timeoutMs: 5_000, intervalMs: 20 });
    await closing.close();
    expect((await answered)?.code).toBe(status.UNAVAILABLE);
    expect((fake.abortReasons[0] as BerthError).code).toBe('not-ready');
    expect(fs.existsSync(socket)).toBe(false);
    client.close();
  });
});
