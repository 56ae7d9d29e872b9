/**
 * The fleet's workload: a pool of volumes driven through the Docker plugin protocol on every host — created on
 * one host, mounted (the data written, and read back on the next mount), unmounted, moved to another host of its
 * zone (released on one, mounted on the other), removed — one operation started every 1/rate s on a volume not
 * busy, for a bounded time; then every volume is unmounted and removed. Each operation is timed and its Err kept.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../src/common/poll';
import { mulberry32 } from '../../test/support/hostile';
import type { FleetHost } from './world';

export type OperationKind = 'create' | 'mount' | 'unmount' | 'move' | 'remove';

export interface Operation {
  kind: OperationKind;
  volume: string;
  /** The host(s) it ran on: "h03", or "h03 → h05" for a move. */
  where: string;
  startedAt: number;
  durationMs: number;
  /** undefined when it worked. */
  error?: string;
  /** Part of the drain at the end (not of the timed workload). */
  drain: boolean;
}

interface PoolVolume {
  name: string;
  zone?: string;
  mountedOn?: FleetHost;
  mountId?: string;
  exists: boolean;
  busy: boolean;
  /** What the last mount wrote into the volume; the next mount must find it. */
  written?: string;
}

export interface WorkloadSettings {
  volumes: number;
  /** Operations started per second, fleet-wide. */
  rate: number;
  durationMs: number;
  seed: number;
}

/** Errors longer than this are cut in the report (a daemon answers with a bounded Err anyway). */
const MAX_ERROR_CHARS = 300;
const CHECK_FILE = 'fleet-check';

export class Workload {
  readonly operations: Operation[] = [];
  /** Ticks at which every volume was busy, so no operation could start. */
  skippedTicks = 0;
  private readonly pool: PoolVolume[];
  private readonly random: () => number;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly hosts: FleetHost[],
    private readonly settings: WorkloadSettings,
    prefix: string,
  ) {
    this.pool = Array.from({ length: settings.volumes }, (_, i) => ({ name: `${prefix}-${String(i + 1).padStart(3, '0')}`, exists: false, busy: false }));
    this.random = mulberry32(settings.seed);
  }

  /** Starts operations at the configured rate until the time is up, then waits for those under way. */
  async run(onProgress: (done: number, failed: number) => void): Promise<void> {
    const intervalMs = 1000 / this.settings.rate;
    const end = Date.now() + this.settings.durationMs;
    let next = Date.now();
    let lastReport = Date.now();
    while (Date.now() < end) {
      this.startOne();
      next += intervalMs;
      await sleep(Math.max(0, next - Date.now()));
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        onProgress(this.operations.length, this.operations.filter((op) => op.error).length);
      }
    }
    await Promise.all(this.running);
  }

  /** Unmounts and removes every volume still there. */
  async drain(): Promise<void> {
    await Promise.all(
      this.pool.map(async (volume) => {
        if (volume.mountedOn) await this.perform(volume, 'unmount', true);
        if (volume.exists) await this.perform(volume, 'remove', true);
      }),
    );
  }

  /** Names of volumes the workload believes still exist (after a drain: those whose removal failed). */
  leftOver(): string[] {
    return this.pool.filter((volume) => volume.exists).map((volume) => volume.name);
  }

  private startOne(): void {
    const idle = this.pool.filter((volume) => !volume.busy);
    if (idle.length === 0) {
      this.skippedTicks++;
      return;
    }
    const volume = idle[Math.floor(this.random() * idle.length)];
    const work = this.perform(volume, this.chooseKind(volume), false).finally(() => this.running.delete(work));
    this.running.add(work);
  }

  private chooseKind(volume: PoolVolume): OperationKind {
    const roll = this.random();
    if (!volume.exists) return 'create';
    if (volume.mountedOn) return roll < 0.6 ? 'move' : 'unmount';
    return roll < 0.75 ? 'mount' : 'remove';
  }

  private async perform(volume: PoolVolume, kind: OperationKind, drain: boolean): Promise<void> {
    volume.busy = true;
    const startedAt = Date.now();
    const at = { where: '' };
    let error: string | undefined;
    try {
      await this.step(volume, kind, at);
    } catch (err) {
      error = (err as Error).message.slice(0, MAX_ERROR_CHARS);
    } finally {
      volume.busy = false;
    }
    this.operations.push({ kind, volume: volume.name, where: at.where, startedAt, durationMs: Date.now() - startedAt, error, drain });
  }

  /** One operation, noting in `at` where it runs. Throws with the Err a user would see. */
  private async step(volume: PoolVolume, kind: OperationKind, at: { where: string }): Promise<void> {
    switch (kind) {
      case 'create': {
        const host = this.pick(this.hosts);
        at.where = host.label;
        await call(host, 'VolumeDriver.Create', { Name: volume.name, Opts: { size: '1' } });
        volume.exists = true;
        volume.zone = host.instance.az;
        volume.written = undefined;
        return;
      }
      case 'mount': {
        const host = this.pick(this.inZone(volume.zone));
        at.where = host.label;
        return this.mountOn(volume, host);
      }
      case 'unmount':
        at.where = volume.mountedOn!.label;
        return this.unmountFrom(volume);
      case 'move': {
        const from = volume.mountedOn!;
        const to = this.pick(this.inZone(volume.zone).filter((host) => host !== from));
        at.where = `${from.label} → ${to.label}`;
        await this.unmountFrom(volume);
        return this.mountOn(volume, to);
      }
      case 'remove': {
        const host = this.pick(this.hosts);
        at.where = host.label;
        await call(host, 'VolumeDriver.Remove', { Name: volume.name });
        volume.exists = false;
        return;
      }
    }
  }

  private async mountOn(volume: PoolVolume, host: FleetHost): Promise<void> {
    await call(host, 'VolumeDriver.Get', { Name: volume.name });
    const mountId = crypto.randomBytes(8).toString('hex');
    const reply = await call(host, 'VolumeDriver.Mount', { Name: volume.name, ID: mountId });
    volume.mountedOn = host;
    volume.mountId = mountId;
    const file = path.join(String(reply.Mountpoint), CHECK_FILE);
    const found = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (found !== volume.written) throw new Error(`data check on ${host.label}: expected ${JSON.stringify(volume.written)} in ${CHECK_FILE}, found ${JSON.stringify(found)}`);
    volume.written = `${volume.name} ${host.label} ${mountId}`;
    fs.writeFileSync(file, volume.written);
    const handle = fs.openSync(file, 'r');
    fs.fsyncSync(handle);
    fs.closeSync(handle);
  }

  private async unmountFrom(volume: PoolVolume): Promise<void> {
    const host = volume.mountedOn!;
    await call(host, 'VolumeDriver.Unmount', { Name: volume.name, ID: volume.mountId });
    volume.mountedOn = undefined;
    volume.mountId = undefined;
  }

  private inZone(zone: string | undefined): FleetHost[] {
    return this.hosts.filter((host) => host.instance.az === zone);
  }

  private pick<T>(items: T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }
}

async function call(host: FleetHost, method: string, body: object): Promise<Record<string, unknown>> {
  const reply = await host.daemon.call(method, body);
  const err = typeof reply.body.Err === 'string' ? reply.body.Err : '';
  if (reply.status !== 200 || err) throw new Error(`${method} on ${host.label}: ${err || `HTTP ${reply.status} ${reply.raw.slice(0, 200)}`}`);
  return reply.body;
}
