/** In-memory Cloud and Host for unit tests of the volume service: they record every call. */
import type { Cloud, CloudSnapshot, CloudVolume, CreateVolumeSpec, DetachOptions, InstanceIdentity, VolumeChange, VolumeModification } from '../../src/cloud/types';
import { BerthError } from '../../src/common/errors';
import type { DataDirOwner, Host, OnlineGrowth, Probe } from '../../src/host/types';
import type { ServiceConfig } from '../../src/volumes/deps';

/** The volume service's settings in its unit tests: short bounds, no linger. */
export function serviceConfig(stateDir: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    mountRoot: '/mnt/berth',
    stateDir,
    tag: '',
    fsType: 'ext4',
    kmsKeyId: '',
    volumeFileMode: 0o755,
    volumeRootPath: '/data',
    preempt: false,
    removePolicy: '',
    mountTimeoutMs: 2000,
    statusTimeoutMs: 2000,
    listCacheMs: 5000,
    releaseDelayMs: 0,
    releaseWaitMs: 300,
    ...overrides,
  };
}

export const HERE: InstanceIdentity = { instanceId: 'i-0here000000000000', region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 'm5.large' };

let counter = 0;
export function volumeFixture(name: string, overrides: Partial<CloudVolume> = {}): CloudVolume {
  counter += 1;
  return {
    volumeId: `vol-${counter.toString(16).padStart(17, '0')}`,
    name,
    sizeGiB: 16,
    volumeType: 'gp3',
    iops: 3000,
    throughput: 125,
    encrypted: false,
    availabilityZone: HERE.availabilityZone,
    state: 'available',
    createTime: new Date('2026-11-01T10:00:00Z'),
    attachments: [],
    tags: {},
    owner: 'berth',
    format: { fsType: 'ext4', mkfsOptions: [] },
    unformatted: true,
    crossAZ: 'refuse',
    ...overrides,
  };
}

interface InjectedFault {
  /** Matches calls starting with this ("attach", "detach vol-1", "create db"). */
  call: string;
  times: number;
  /** The call takes effect, then fails (its answer lost, a 5xx after the change). */
  afterEffect: boolean;
  error: Error;
}

export class FakeCloud implements Cloud {
  readonly volumes = new Map<string, CloudVolume>();
  readonly calls: string[] = [];
  failing?: Error;
  private readonly faults: InjectedFault[] = [];
  private nextDevice = 0;

  /** Fails the next `times` calls starting with `call`, before or after they take effect. */
  failNext(call: string, { times = 1, afterEffect = false, error = new BerthError('cloud', `${call} failed (injected InternalError)`) } = {}): void {
    this.faults.push({ call, times, afterEffect, error });
  }

  usualDetachMs(): number | undefined {
    return undefined;
  }

  identity(): InstanceIdentity {
    return HERE;
  }

  add(volume: CloudVolume): CloudVolume {
    this.volumes.set(volume.volumeId, volume);
    return volume;
  }

  byName(name: string): CloudVolume | undefined {
    return [...this.volumes.values()].find((v) => v.name === name && v.state !== 'deleted');
  }

  private record(call: string) {
    this.calls.push(call);
    if (this.failing) throw this.failing;
    this.injected(call, false);
  }

  /** The answer of a call that took effect: lost when a fault after the effect matches. */
  private answer<T>(call: string, value: T): T {
    this.injected(call, true);
    return value;
  }

  private injected(call: string, afterEffect: boolean) {
    const fault = this.faults.find((f) => f.afterEffect === afterEffect && f.times > 0 && call.startsWith(f.call));
    if (!fault) return;
    fault.times -= 1;
    throw fault.error;
  }

  count(prefix: string): number {
    return this.calls.filter((call) => call.startsWith(prefix)).length;
  }

  async findByName(name: string) {
    this.record(`findByName ${name}`);
    return this.byName(name);
  }
  async listVolumes() {
    this.record('listVolumes');
    return [...this.volumes.values()].filter((v) => v.state !== 'deleted');
  }
  async describe(volumeId: string) {
    this.record(`describe ${volumeId}`);
    return this.volumes.get(volumeId);
  }
  async create(spec: CreateVolumeSpec) {
    this.record(`create ${spec.name}`);
    const volume =
      this.byName(spec.name) ??
      this.add(volumeFixture(spec.name, { sizeGiB: spec.sizeGiB, volumeType: spec.volumeType, format: spec.format, availabilityZone: spec.availabilityZone, createTime: new Date() }));
    return this.answer(`create ${spec.name}`, volume);
  }
  async delete(volumeId: string) {
    this.record(`delete ${volumeId}`);
    this.volumes.get(volumeId)!.state = 'deleted';
    this.answer(`delete ${volumeId}`, undefined);
  }
  async snapshot(volumeId: string) {
    this.record(`snapshot ${volumeId}`);
    return 'snap-00000000000000001';
  }
  async retire(volumeId: string) {
    this.record(`retire ${volumeId}`);
    const volume = this.volumes.get(volumeId)!;
    volume.name = '';
  }
  async attach(volumeId: string) {
    this.record(`attach ${volumeId}`);
    const volume = this.volumes.get(volumeId)!;
    const mine = volume.attachments.find((a) => a.instanceId === HERE.instanceId);
    if (mine) return mine.device;
    const other = volume.attachments[0];
    if (other) throw new BerthError('attached-elsewhere', `attached to ${other.instanceId}`);
    const device = `/dev/xvd${String.fromCharCode(102 + this.nextDevice++)}`;
    volume.attachments.push({ instanceId: HERE.instanceId, device, state: 'attached' });
    volume.state = 'in-use';
    return this.answer(`attach ${volumeId}`, device);
  }
  async detach(volumeId: string, options: DetachOptions) {
    const instanceId = options.instanceId ?? HERE.instanceId;
    this.record(`detach ${volumeId} ${instanceId}${options.force ? ' force' : ''}`);
    const volume = this.volumes.get(volumeId)!;
    volume.attachments = volume.attachments.filter((a) => a.instanceId !== instanceId);
    if (volume.attachments.length === 0) volume.state = 'available';
    this.answer(`detach ${volumeId}`, undefined);
  }
  async moveToZone(volume: CloudVolume, availabilityZone: string) {
    this.record(`moveToZone ${volume.volumeId} ${availabilityZone}`);
    const moved = this.add(volumeFixture(volume.name, { availabilityZone, unformatted: false, crossAZ: volume.crossAZ, format: volume.format }));
    this.volumes.get(volume.volumeId)!.name = '';
    return moved;
  }
  async markFormatted(volumeId: string) {
    this.record(`markFormatted ${volumeId}`);
    this.volumes.get(volumeId)!.unformatted = false;
  }
  /** volume id -> its latest modification; polls it sees before it reaches optimizing (then completed). */
  readonly modifications = new Map<string, VolumeModification>();
  modifyingPolls = 1;
  optimizingPolls = 1;
  private readonly pollsLeft = new Map<string, number>();
  async modifyVolume(volumeId: string, change: VolumeChange) {
    this.record(`modifyVolume ${volumeId} ${JSON.stringify(change)}`);
    const volume = this.volumes.get(volumeId)!;
    const latest = this.modifications.get(volumeId);
    if (latest && (latest.state === 'modifying' || latest.state === 'optimizing')) throw new BerthError('in-use', 'IncorrectModificationState');
    const modification: VolumeModification = {
      volumeId,
      state: 'modifying',
      progress: 0,
      targetSizeGiB: change.sizeGiB ?? volume.sizeGiB,
      targetVolumeType: change.volumeType ?? volume.volumeType,
      targetIops: change.iops,
      targetThroughput: change.throughput,
      originalSizeGiB: volume.sizeGiB,
      startTime: new Date(),
    };
    this.modifications.set(volumeId, modification);
    this.pollsLeft.set(volumeId, this.modifyingPolls);
    return { ...modification };
  }
  async latestModification(volumeId: string) {
    this.record(`latestModification ${volumeId}`);
    const modification = this.modifications.get(volumeId);
    if (!modification) return undefined;
    const left = this.pollsLeft.get(volumeId) ?? 0;
    if (modification.state === 'modifying' && left <= 0) {
      const volume = this.volumes.get(volumeId)!;
      Object.assign(volume, { sizeGiB: modification.targetSizeGiB, volumeType: modification.targetVolumeType });
      if (modification.targetIops !== undefined) volume.iops = modification.targetIops;
      if (modification.targetThroughput !== undefined) volume.throughput = modification.targetThroughput;
      Object.assign(modification, { state: 'optimizing', progress: 50 });
    } else if (modification.state === 'optimizing' && left <= -this.optimizingPolls) {
      Object.assign(modification, { state: 'completed', progress: 100, endTime: new Date() });
    }
    this.pollsLeft.set(volumeId, left - 1);
    return { ...modification };
  }
  readonly snapshots = new Map<string, CloudSnapshot>();
  async createSnapshot(volumeId: string, name: string, _description: string, tags: Record<string, string>) {
    this.record(`createSnapshot ${volumeId}`);
    const snapshotId = `snap-${(this.snapshots.size + 1).toString(16).padStart(17, '0')}`;
    const volume = this.volumes.get(volumeId)!;
    this.snapshots.set(snapshotId, { snapshotId, volumeId, volumeName: name, namespace: 'default', state: 'pending', progress: 0, sizeGiB: volume.sizeGiB, startTime: new Date(), tags });
    return snapshotId;
  }
  async describeSnapshot(snapshotId: string) {
    this.record(`describeSnapshot ${snapshotId}`);
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot && snapshot.state === 'pending') Object.assign(snapshot, snapshot.progress >= 50 ? { state: 'completed', progress: 100 } : { progress: snapshot.progress + 50 });
    return snapshot && { ...snapshot };
  }
  async listSnapshots(volumeName?: string) {
    this.record(`listSnapshots ${volumeName ?? ''}`);
    return [...this.snapshots.values()].filter((snapshot) => volumeName === undefined || snapshot.volumeName === volumeName);
  }
  async deleteSnapshot(snapshotId: string) {
    this.record(`deleteSnapshot ${snapshotId}`);
    if (!this.snapshots.delete(snapshotId)) throw new BerthError('not-found', `snapshot ${snapshotId} not found`);
  }
  /** instance id -> EC2 state name (default running). */
  readonly instanceStates = new Map<string, string>();
  /** instance id -> zone (default this instance's). */
  readonly instanceZones = new Map<string, string>();
  async describeInstance(instanceId: string) {
    this.record(`describeInstance ${instanceId}`);
    return { state: this.instanceStates.get(instanceId) ?? 'running', availabilityZone: this.instanceZones.get(instanceId) ?? HERE.availabilityZone };
  }
  async attachTo(volumeId: string, instanceId: string) {
    this.record(`attachTo ${volumeId} ${instanceId}`);
    const volume = this.volumes.get(volumeId)!;
    const existing = volume.attachments.find((a) => a.instanceId === instanceId);
    if (existing) return existing.device;
    const other = volume.attachments[0];
    if (other) throw new BerthError('attached-elsewhere', `attached to ${other.instanceId}`);
    const device = `/dev/xvd${String.fromCharCode(102 + this.nextDevice++)}`;
    volume.attachments.push({ instanceId, device, state: 'attached' });
    volume.state = 'in-use';
    return this.answer(`attachTo ${volumeId}`, device);
  }
  throttledCount() {
    return 0;
  }
  async availabilityZones() {
    this.record('availabilityZones');
    return ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  }
}

export class FakeHost implements Host {
  readonly calls: string[] = [];
  /** device path -> what blkid would find */
  readonly devices = new Map<string, Probe>();
  /** target -> device */
  readonly mounts = new Map<string, string>();
  missingDevice = false;
  /** What blkid finds on devices not set up in `devices`. */
  defaultProbe: Probe = {};

  async findDevice(volumeId: string, deviceName: string, signal: AbortSignal) {
    this.calls.push(`findDevice ${volumeId}`);
    if (this.missingDevice) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      throw new BerthError('device-missing', `device for ${volumeId} did not appear`);
    }
    const device = `/dev/fake-${volumeId}`;
    if (!this.devices.has(device)) this.devices.set(device, { ...this.defaultProbe });
    return device;
  }
  async deviceGone() {}
  async probe(device: string) {
    this.calls.push(`probe ${device}`);
    return this.devices.get(device) ?? {};
  }
  async format(device: string, fsType: string) {
    this.calls.push(`format ${device} ${fsType}`);
    this.devices.set(device, { fsType });
  }
  async check(device: string) {
    this.calls.push(`check ${device}`);
  }
  async mount(device: string, target: string) {
    this.calls.push(`mount ${device} ${target}`);
    this.mounts.set(target, device);
    this.mountDirs.add(target);
  }
  async unmount(target: string) {
    this.calls.push(`unmount ${target}`);
    this.mounts.delete(target);
    this.binds.delete(target);
  }
  /** target -> the bound directory */
  readonly binds = new Map<string, string>();
  async bindMount(source: string, target: string, readonly: boolean) {
    this.calls.push(`bindMount ${source} ${target}${readonly ? ' ro' : ''}`);
    this.binds.set(target, source);
  }
  async mountTargets(device: string) {
    const mounted = [...this.mounts].filter(([, source]) => source === device).map(([target]) => target);
    const bound = [...this.binds].filter(([, source]) => mounted.some((target) => source.startsWith(target))).map(([target]) => target);
    return [...mounted, ...bound];
  }
  /** Mount directories that exist (made by mount, kept after unmount, as on Linux). */
  readonly mountDirs = new Set<string>();
  async removeMountDir(target: string) {
    this.calls.push(`removeMountDir ${target}`);
    if (!this.mounts.has(target)) this.mountDirs.delete(target);
  }
  /** Devices some other mount namespace still has mounted. */
  readonly inUse = new Set<string>();
  async deviceInUse(device: string) {
    return this.inUse.has(device);
  }
  async growBeforeMount() {}
  async growAfterMount() {}
  /** What an online grow answers. */
  onlineGrowth: OnlineGrowth = 'grown';
  async growMounted(device: string, target: string, fsType: string) {
    this.calls.push(`growMounted ${device} ${target} ${fsType}`);
    return this.onlineGrowth;
  }
  /** device -> bytes; unknown devices are as large as anything asked for. */
  readonly deviceSizes = new Map<string, number>();
  async deviceBytes(device: string) {
    return this.deviceSizes.get(device) ?? Number.MAX_SAFE_INTEGER;
  }
  async mountedSource(target: string) {
    const bound = this.binds.get(target);
    return this.mounts.get(target) ?? (bound === undefined ? undefined : [...this.mounts].find(([mounted]) => bound.startsWith(mounted))?.[1]);
  }
  async prepareDataDir(dir: string, owner: DataDirOwner) {
    this.calls.push(`prepareDataDir ${dir} ${owner.mode.toString(8)}`);
  }
}
