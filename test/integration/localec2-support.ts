/**
 * Helpers for the local-ec2 tests: start endpoints in temporary data dirs, SDK clients with explicit
 * credentials, and teardown that leaves no loop device, link, mount or directory behind.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { cleanupLocalEc2 } from '../../src/localec2/cleanup';
import { type LocalEc2, type LocalEc2Options, startLocalEc2 } from '../../src/localec2/server';
import { loopDevicesUnder } from '../support/loop-devices';

export const TEST_KEY = { accessKeyId: 'AKIDLOCALEC2TEST', secretAccessKey: 'local-ec2-test-secret-key' };
export const REGION = 'us-east-1';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export function ec2Client(url: string, options: { credentials?: Credentials; region?: string; maxAttempts?: number; retryMode?: string } = {}): EC2Client {
  return new EC2Client({
    region: options.region ?? REGION,
    endpoint: url,
    credentials: options.credentials ?? TEST_KEY,
    maxAttempts: options.maxAttempts ?? 1,
    ...(options.retryMode ? { retryMode: options.retryMode } : {}),
  });
}

export function instanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

/** Tracks everything a test file makes, so afterAll can undo it even when tests failed. */
export class Workspace {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'localec2-test-'));
  private readonly endpoints: LocalEc2[] = [];
  private readonly dataDirs = new Set<string>();
  private readonly mounts: string[] = [];

  dir(name: string): string {
    const dir = path.join(this.root, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  async start(options: Partial<LocalEc2Options> & { dataDir: string }): Promise<LocalEc2> {
    this.dataDirs.add(options.dataDir);
    const endpoint = await startLocalEc2({ listen: '127.0.0.1:0', accessKeys: [TEST_KEY], ...options });
    this.endpoints.push(endpoint);
    return endpoint;
  }

  trackDataDir(dataDir: string): void {
    this.dataDirs.add(dataDir);
  }

  /** Mounts a device (through its link) on a new directory of the workspace. */
  mount(device: string, name: string): string {
    const mountPoint = this.dir(name);
    execFileSync('mount', [device, mountPoint]);
    this.mounts.push(mountPoint);
    return mountPoint;
  }

  unmount(mountPoint: string): void {
    execFileSync('umount', [mountPoint]);
    this.mounts.splice(this.mounts.indexOf(mountPoint), 1);
  }

  async teardown(): Promise<void> {
    for (const endpoint of this.endpoints.splice(0)) await endpoint.close().catch(() => undefined);
    for (const mountPoint of this.mounts.splice(0).reverse()) {
      try {
        execFileSync('umount', [mountPoint], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
      }
    }
    for (const dataDir of this.dataDirs) await cleanupLocalEc2(dataDir);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Loop devices bound to files under the data dir. */
export function loopDevicesOf(dataDir: string): string[] {
  return loopDevicesUnder(dataDir).map(({ device }) => device);
}

export function blockDeviceSize(device: string): number {
  return Number(execFileSync('blockdev', ['--getsize64', device], { encoding: 'utf8' }).trim());
}

export async function adminJson<T>(ec2Url: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${ec2Url}${route}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${route}: HTTP ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The error an SDK call rejected with (fails the test if it succeeded). */
export async function ec2Error(promise: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    const error = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: error.name, message: error.message, status: error.$metadata?.httpStatusCode };
  }
  throw new Error('expected the EC2 call to fail, it succeeded');
}
