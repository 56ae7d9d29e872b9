/**
 * The fleet's world: one local EC2 endpoint for the whole account (EC2-like delays, EC2's request limits scaled to
 * the fleet) and one real berth daemon per simulated instance, in legacy mode, each with its own socket, state dir,
 * device dir and instance; instances alternate between two zones. Everything is registered with a Cleanup.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../test/support/daemon';
import { startLocalEc2, type EndpointInstance, type LocalEc2 } from '../../test/support/local-ec2';
import { mountsUnder, unmountAllUnder } from '../../test/support/mounts';
import type { Cleanup } from '../stage';

export const ZONES = ['us-east-1a', 'us-east-1b'];

export interface FleetHost {
  /** h01, h02, ... */
  label: string;
  instance: EndpointInstance;
  daemon: RunningDaemon & { root: string };
}

export interface WorldSettings {
  instances: number;
  delays: string;
  throttle: string;
  /** berth's cli.js for the daemons (another build for a side-by-side run). */
  cli?: string;
  /** Extra environment for every daemon. */
  env: Record<string, string>;
}

export interface World {
  ec2: LocalEc2;
  hosts: FleetHost[];
  /** Whatever is still mounted under the daemons' mount roots. */
  mountsLeft(): string[];
  /** Writes every daemon's log and the endpoint's output into `dir`. */
  keepLogs(dir: string): void;
}

const STARTS_AT_ONCE = 5;

export async function startWorld(cleanup: Cleanup, settings: WorldSettings): Promise<World> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fleet-'));
  cleanup.add(`remove ${scratch}`, () => {
    const left = mountsUnder([scratch]);
    if (left.length > 0) throw new Error(`still mounted, kept: ${left.join(', ')}`);
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  const specs = Array.from({ length: settings.instances }, (_, i) => {
    const devdir = path.join(scratch, `dev-${i + 1}`);
    fs.mkdirSync(devdir);
    return `az=${ZONES[i % ZONES.length]},devdir=${devdir}`;
  });
  const args = ['--delays', settings.delays, '--throttle', settings.throttle];
  const ec2 = await startLocalEc2(specs, args);
  cleanup.add(`local EC2 endpoint ${ec2.ec2}`, () => ec2.destroy());

  const hosts: FleetHost[] = [];
  for (let first = 0; first < ec2.instances.length; first += STARTS_AT_ONCE) {
    const batch = ec2.instances.slice(first, first + STARTS_AT_ONCE);
    const started = await Promise.all(
      batch.map(async (instance, offset) => {
        const root = path.join(scratch, `h${String(first + offset + 1).padStart(2, '0')}`);
        fs.mkdirSync(root);
        const daemon = await startDaemon({ ec2: ec2.ec2, instance, dirs: { root }, cli: settings.cli, env: { EBS_LOGLEVEL: 'info', ...settings.env } });
        cleanup.add(`berth daemon of ${instance.id}`, async () => {
          await daemon.stop();
          await unmountAllUnder([root]);
        });
        return { label: path.basename(root), instance, daemon };
      }),
    );
    hosts.push(...started);
  }
  const keepLogs = (dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'endpoint.log'), ec2.output.join(''));
    for (const host of hosts) fs.writeFileSync(path.join(dir, `${host.label}-${host.instance.id}.log`), host.daemon.logs.join(''));
  };
  return { ec2, hosts, mountsLeft: () => mountsUnder(hosts.map((host) => host.daemon.mountRoot)), keepLogs };
}
