#!/usr/bin/env node
/**
 * The Swarm cluster volume plugin, berth/ebs-csi: the classic plugin's rootfs (hard-linked, not copied) with a
 * manifest derived from config.json, so both declare the same settable environment and the same access to the
 * host's devices; what differs is what Docker dials and how (the CSI interface types and socket, CSI_ENDPOINT), the
 * entrypoint (`berth csi`) and the propagated mount Docker's CSI support publishes under.
 *
 *   node plugin/csi-plugin.mjs [--from build/plugin] [--out build/plugin-csi]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const CSI_SOCKET = 'csi.sock';
const PUBLISHED = '/data/published';
/** The manifest entries berth/ebs fixes for its own Docker socket and mount root, which the CSI plugin has not. */
const CLASSIC_ONLY_ENV = ['EBS_SOCKET', 'EBS_MOUNTROOT'];

export function csiManifest(classic) {
  const env = classic.env.filter((entry) => !CLASSIC_ONLY_ENV.includes(entry.name));
  const stateDir = env.find((entry) => entry.name === 'EBS_STATEDIR');
  if (stateDir) stateDir.value = `${PUBLISHED}/.berth`;
  return {
    ...classic,
    description: classic.description.replace(/^berth([^:]*):/, 'berth$1 (Swarm cluster volumes, CSI):'),
    entrypoint: [...classic.entrypoint.slice(0, -1), 'csi'],
    interface: { types: ['docker.csicontroller/1.0', 'docker.csinode/1.0'], socket: CSI_SOCKET },
    propagatedMount: PUBLISHED,
    env: [
      { name: 'CSI_ENDPOINT', description: 'Socket Docker dials for CSI (fixed by the plugin manifest)', value: `/run/docker/plugins/${CSI_SOCKET}` },
      ...env,
    ],
  };
}

function main() {
  const { values } = parseArgs({ options: { from: { type: 'string', default: 'build/plugin' }, out: { type: 'string', default: 'build/plugin-csi' } } });
  const from = path.resolve(values.from);
  const out = path.resolve(values.out);
  const classic = JSON.parse(fs.readFileSync(path.join(from, 'config.json'), 'utf8'));
  const staging = `${out}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    execFileSync('cp', ['-al', path.join(from, 'rootfs'), path.join(staging, 'rootfs')]);
    fs.writeFileSync(path.join(staging, 'config.json'), `${JSON.stringify(csiManifest(classic), null, 2)}\n`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.renameSync(staging, out);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  process.stdout.write(`${JSON.stringify({ dir: out })}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
