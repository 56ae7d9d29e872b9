/**
 * One engine with the plugin installed, for a suite of scenarios around volumes in use: the docker commands bound
 * to it, a writer container, where the plugin mounts volumes, builds pushed to a local registry for upgrades, and
 * everything removed at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type Registry } from '../support/dockerd';
import { mountsUnder } from '../support/mounts';
import { cleanUp, dockerOk, expectStillWriting, IMAGE, PLUGIN, setupTeardown, startSetup, writerScript, type E2eSetup } from './environment';
import { derivedPluginDir, installPlugin, pushPlugin, removeAllContainers, removePlugin, type InstalledPlugin } from './plugin-harness';

export class PluginSession {
  private started?: E2eSetup & { devdir: string };
  private installed?: InstalledPlugin;
  private registry?: Registry;
  private readonly tempDirs: string[] = [];

  get setup(): E2eSetup & { devdir: string } {
    if (!this.started) throw new Error('the plugin session has not started');
    return this.started;
  }

  get plugin(): InstalledPlugin {
    if (!this.installed) throw new Error('the plugin is not installed');
    return this.installed;
  }

  /** A private engine and endpoint, and the plugin from `pluginDir` installed as berth/ebs. */
  async start(pluginDir: string, options: { otherInstances?: string[]; endpointArgs?: string[]; settings?: Record<string, string> } = {}): Promise<void> {
    this.started = await startSetup(options);
    this.installed = await installPlugin(this.started.dockerd, PLUGIN, pluginDir, { ...this.started.endpointSettings, ...options.settings });
  }

  ok(args: string[], timeoutMs?: number): Promise<string> {
    return dockerOk(this.setup.dockerd, this.installed?.id, args, timeoutMs);
  }

  run(args: string[]): Promise<string> {
    return this.ok(['run', '--rm', '--network', 'none', ...args]);
  }

  /** A container counting into /data/n on the volume. */
  startWriter(name: string, volume: string, extra: string[] = []): Promise<string> {
    return this.ok(['run', '-d', '--name', name, '--network', 'none', ...extra, '-v', `${volume}:/data`, IMAGE, 'sh', '-c', writerScript('/data/n')]);
  }

  stillWriting(container: string): Promise<number> {
    return expectStillWriting(this.setup.dockerd, container, '/data/n');
  }

  pluginDir(): string {
    return path.join(this.setup.dockerd.dataRoot, 'plugins', this.plugin.id);
  }

  propagatedMount(): string {
    return path.join(this.pluginDir(), 'propagated-mount');
  }

  mountedHere(volume: string): boolean {
    return mountsUnder([this.propagatedMount()]).includes(path.join(this.propagatedMount(), volume));
  }

  /** Pushes `source` with a BUILD file and its own description to the local registry; returns its reference. */
  async pushBuild(source: string, build: string, description: string): Promise<string> {
    this.registry ??= await startRegistry();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-e2e-upgrade-'));
    this.tempDirs.push(dir);
    const ref = `${this.registry.address}/berth/ebs:${build}`;
    await pushPlugin(this.setup.dockerd, await derivedPluginDir(source, path.join(dir, 'plugin'), description, build), ref);
    return ref;
  }

  /** Pushes `dir` as it is; returns its reference. */
  async push(dir: string, build: string): Promise<string> {
    this.registry ??= await startRegistry();
    const ref = `${this.registry.address}/berth/ebs:${build}`;
    await pushPlugin(this.setup.dockerd, dir, ref);
    return ref;
  }

  /** docker plugin disable --force, upgrade to ref, enable. */
  async upgradeTo(ref: string): Promise<void> {
    // Upgrading needs the plugin disabled; with volumes present that takes --force.
    await this.ok(['plugin', 'disable', '--force', PLUGIN]);
    // The remote's name differs from the installed one's: without --skip-remote-check the CLI asks "Plugin images do
    // not match, are you sure? [y/N]" and, with no answer, exits 0 having upgraded nothing.
    await this.ok(['plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', PLUGIN, ref], 5 * 60_000);
    await this.ok(['plugin', 'enable', '--timeout', '120', PLUGIN]);
  }

  async cleanUp(): Promise<void> {
    const setup = this.started;
    await cleanUp([
      ['containers', () => setup && removeAllContainers(setup.dockerd)],
      ['plugin', () => setup && removePlugin(setup.dockerd, PLUGIN)],
      ...setupTeardown(setup),
      ['registry', () => this.registry?.stop()],
      ['temp dirs', () => this.tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }))],
    ]);
  }
}
