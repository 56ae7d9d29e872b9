/** Parsing of the local-ec2 command line: instance specs, --delays and durations. */
import type { Delays } from './actions/context';
import { checkInstanceSpec, type InstanceSpec } from './instance-setup';

const DELAY_NAMES: (keyof Delays)[] = ['create', 'attach', 'detach', 'delete', 'modify', 'snapshot', 'instance'];

/** Roughly what EC2 takes for each step; `--delays realistic`. */
export const REALISTIC_DELAYS: Delays = { create: 2000, attach: 3000, detach: 3000, delete: 2000, modify: 5000, snapshot: 5000, instance: 5000 };

/** `500ms`, `2s`, `1m`, or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`duration ${JSON.stringify(text)}: expected e.g. 0, 500ms, 2s or 1m`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  return Math.round(value * { ms: 1, s: 1000, m: 60_000 }[unit]!);
}

/** `create=1s,attach=2s,...`; the word `realistic` sets EC2-like delays that later entries may override. */
export function parseDelays(text: string): Partial<Delays> {
  const delays: Partial<Delays> = {};
  for (const entry of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    if (entry === 'realistic') {
      Object.assign(delays, REALISTIC_DELAYS);
      continue;
    }
    const [name, value] = entry.split('=', 2);
    if (!DELAY_NAMES.includes(name as keyof Delays) || value === undefined) {
      throw new Error(`--delays entry ${JSON.stringify(entry)}: expected <${DELAY_NAMES.join('|')}>=<duration> or "realistic"`);
    }
    delays[name as keyof Delays] = parseDuration(value);
  }
  return delays;
}

/** `id=i-...,az=us-east-1a,imds=127.0.0.1:0,devdir=/d,devices=nitro|xvd,imdsv2=required|optional,hoplimit=N,type=m5.large,maxvolumes=N,role=R` */
export function parseInstanceSpec(text: string): InstanceSpec {
  const spec: InstanceSpec = {};
  for (const entry of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const equals = entry.indexOf('=');
    if (equals < 1) throw new Error(`--instance entry ${JSON.stringify(entry)}: expected key=value`);
    const key = entry.slice(0, equals);
    const value = entry.slice(equals + 1);
    switch (key) {
      case 'id':
        spec.id = value;
        break;
      case 'az':
        spec.az = value;
        break;
      case 'imds':
        spec.imds = value;
        break;
      case 'devdir':
        spec.devdir = value;
        break;
      case 'devices':
        spec.devices = value as InstanceSpec['devices'];
        break;
      case 'imdsv2':
        spec.imdsv2 = value as InstanceSpec['imdsv2'];
        break;
      case 'type':
        spec.type = value;
        break;
      case 'maxvolumes':
        if (!/^\d+$/.test(value)) throw new Error(`--instance maxvolumes=${value}: expected a whole number`);
        spec.maxVolumes = Number(value);
        break;
      case 'role':
        spec.role = value;
        break;
      case 'hoplimit':
        if (!/^\d+$/.test(value)) throw new Error(`--instance hoplimit=${value}: expected a whole number from 1 to 64`);
        spec.hopLimit = Number(value);
        break;
      default:
        throw new Error(`--instance: unknown field ${JSON.stringify(key)} (id, az, imds, devdir, devices, imdsv2, hoplimit, type, maxvolumes, role)`);
    }
  }
  checkInstanceSpec(spec);
  return spec;
}
