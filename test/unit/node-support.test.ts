/**
 * berth must keep running on the Node.js versions it supports: the oldest one (a legacy host's own Node, CI's), and
 * the one the plugin and build/legacy ship. The AWS SDK announces Node >= 22 for its releases after the first week
 * of January 2027, so the SDK is pinned, and every package a fresh `npm ci` installs for the daemon must accept both.
 */
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { MINIMUM_NODE_MAJOR, unsupportedNode, versionLine } from '../../src/version';

const REPO = path.resolve(__dirname, '../..');
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(REPO, file), 'utf8')) as T;

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string };
}

const pkg = readJson<{ version: string; engines: { node: string }; dependencies: Record<string, string> }>('package.json');
const lock = readJson<{ packages: Record<string, LockedPackage> }>('package-lock.json');
const shippedNode = /DEFAULT_NODE_VERSION = '([\d.]+)'/.exec(fs.readFileSync(path.join(REPO, 'plugin/node-runtime.mjs'), 'utf8'))?.[1] ?? '';

describe('the Node.js versions berth runs on', () => {
  it('package.json declares the minimum that berth checks at start', () => {
    expect(pkg.engines.node).toBe(`>=${MINIMUM_NODE_MAJOR}`);
  });

  it('pins the AWS SDK and its HTTP handler to exact versions, locked as declared', () => {
    for (const name of ['@aws-sdk/client-ec2', '@smithy/node-http-handler']) {
      expect(pkg.dependencies[name]).toMatch(/^\d+\.\d+\.\d+$/);
      expect(lock.packages[`node_modules/${name}`].version).toBe(pkg.dependencies[name]);
    }
  });

  it.each([`${MINIMUM_NODE_MAJOR}.0.0`, shippedNode])('every package the daemon runs on accepts Node.js %s', (nodeVersion) => {
    expect(semver.valid(nodeVersion)).toBeTruthy();
    const refusing = Object.entries(lock.packages)
      .filter(([where, locked]) => where !== '' && !locked.dev && locked.engines?.node && !semver.satisfies(nodeVersion, locked.engines.node))
      .map(([where, locked]) => `${where.replace(/^node_modules\//, '')}@${locked.version} wants node ${locked.engines?.node}`);
    expect(refusing).toEqual([]);
  });

  it('berth serve refuses an older Node.js, naming what it needs', () => {
    expect(unsupportedNode('18.20.4')).toMatch(/^berth needs Node\.js 20 or later, this is 18\.20\.4: /);
    expect(unsupportedNode(`${MINIMUM_NODE_MAJOR}.0.0`)).toBeUndefined();
    expect(unsupportedNode(shippedNode)).toBeUndefined();
  });

  it('berth version names the release and the Node.js running it', () => {
    expect(versionLine()).toBe(`berth ${pkg.version} (Node.js ${process.versions.node})`);
  });
});
