import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { bindSocket, createApp } from '../../src/api/server';
import { BerthError, ValidationError } from '../../src/common/errors';
import { silentLogger } from '../../src/log';
import type { VolumeOperations, VolumeView } from '../../src/volumes/operations';
import { callPlugin } from '../support/socket-client';

async function listenOnSocket(app: ReturnType<typeof createApp>, socketPath: string): Promise<http.Server> {
  const socket = await bindSocket(socketPath);
  socket.serve(await app);
  return socket.server;
}

class RecordingDriver implements VolumeOperations {
  readonly calls: unknown[][] = [];
  volumes = new Map<string, VolumeView>();
  async create(name: string, opts: Record<string, string> | null) {
    this.calls.push(['create', name, opts]);
    if (opts && 'size' in opts && opts.size === 'huge') throw new ValidationError('size', 'size: "huge" is not a whole number of GiB');
    this.volumes.set(name, { name, createdAt: '2026-11-01T10:00:00.000Z', status: { volumeId: 'vol-1' } });
  }
  async remove(name: string) {
    this.calls.push(['remove', name]);
  }
  async mount(name: string, id: string) {
    this.calls.push(['mount', name, id]);
    return `/var/lib/libstorage/volumes/${name}/data`;
  }
  async unmount(name: string, id: string) {
    this.calls.push(['unmount', name, id]);
    throw new BerthError('host', `umount of ${name} failed: target is busy`);
  }
  async path() {
    return undefined;
  }
  async get(name: string) {
    return this.volumes.get(name);
  }
  async list() {
    return [...this.volumes.values(), { name: 'no-time', createdAt: '' }];
  }
}

describe('plugin protocol over a unix socket', () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  let driver: RecordingDriver;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-api-'));
    socket = path.join(dir, 'berth.sock');
    driver = new RecordingDriver();
    server = await listenOnSocket(createApp(async () => driver, silentLogger()), socket);
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('activates and reports global scope, with the plugin content type and a JSON body', async () => {
    const activate = await callPlugin(socket, 'Plugin.Activate');
    expect(activate.body).toEqual({ Implements: ['VolumeDriver'] });
    expect(activate.contentType).toMatch(/^application\/vnd\.docker\.plugins\.v1\.2\+json/);
    expect((await callPlugin(socket, 'VolumeDriver.Capabilities', {})).body).toEqual({ Capabilities: { Scope: 'global' } });
  });

  it('hands every option key on as sent, "__proto__" included, so that it is refused like any unknown key', async () => {
    await callPlugin(socket, 'VolumeDriver.Create', '{"Name":"db","Opts":{"__proto__":"x","size":"5"}}');
    const opts = driver.calls[0][2] as Record<string, string>;
    expect(Object.keys(opts)).toEqual(['__proto__', 'size']);
    expect(Object.getPrototypeOf(opts)).toBeNull();
  });

  it('refuses an option value that is a list or an object, naming the key (an object with a "toString" key was an internal error)', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Create', '{"Name":"db","Opts":{"size":{"toString":1}}}');
    expect(reply.body.Err).toBe('"size": the value must be a string (key=value), not an object');
    const list = await callPlugin(socket, 'VolumeDriver.Create', '{"Name":"db","Opts":{"tags":["a=b"]}}');
    expect(list.body.Err).toBe('"tags": the value must be a string (key=value), not a list');
    await callPlugin(socket, 'VolumeDriver.Create', '{"Name":"db","Opts":{"size":5,"encrypted":true}}');
    expect(driver.calls).toEqual([['create', 'db', { size: '5', encrypted: 'true' }]]);
  });

  it('parses bodies sent without a Content-Type, and Opts null means defaults', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Create', { Name: 'db', Opts: null });
    expect(reply.body).toEqual({ Err: '' });
    expect(driver.calls).toEqual([['create', 'db', null]]);
  });

  it('accepts a JSON body whatever Content-Type says and matches field names case-insensitively', async () => {
    await callPlugin(socket, 'VolumeDriver.Create', '{"name":"x","opts":{"size":"5"}}', { 'Content-Type': 'text/plain' });
    expect(driver.calls).toEqual([['create', 'x', { size: '5' }]]);
  });

  it('answers an empty body with a clear Err, not a crash', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Mount', '');
    expect(reply.status).toBe(200);
    expect(reply.body.Err).toMatch(/no Name/);
    const garbage = await callPlugin(socket, 'VolumeDriver.Create', '{not json');
    expect(garbage.body.Err).toMatch(/not JSON/);
  });

  it('says a body that is JSON but not an object is not one (it was answered as "an empty body")', async () => {
    for (const [body, kind] of [['["Name","db"]', 'a list'], ['"db"', 'a string'], ['42', 'a number'], ['true', 'a boolean']]) {
      const reply = await callPlugin(socket, 'VolumeDriver.Create', body);
      expect(reply.body.Err).toBe(`berth: request body is ${kind}: the protocol's bodies are JSON objects`);
    }
    expect((await callPlugin(socket, 'Plugin.Activate', 'null\n')).body).toEqual({ Implements: ['VolumeDriver'] });
    expect(driver.calls).toEqual([]);
  });

  it('passes an empty Name on to the volume service, which says what a volume name may be', async () => {
    await callPlugin(socket, 'VolumeDriver.Create', { Name: '', Opts: null });
    expect(driver.calls).toEqual([['create', '', null]]);
    expect((await callPlugin(socket, 'VolumeDriver.Mount', { Name: 'db', ID: '' })).body.Err).toMatch(/^request has an empty ID: /);
  });

  it('turns errors into Err strings that name the problem', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Create', { Name: 'db', Opts: { size: 'huge' } });
    expect(reply.status).toBe(200);
    expect(reply.body.Err).toBe('size: "huge" is not a whole number of GiB');
    expect((await callPlugin(socket, 'VolumeDriver.Unmount', { Name: 'db', ID: 'abc' })).body.Err).toMatch(/target is busy/);
  });

  it('Get echoes the name and says not found without a volume', async () => {
    await callPlugin(socket, 'VolumeDriver.Create', { Name: 'db', Opts: {} });
    const found = await callPlugin(socket, 'VolumeDriver.Get', { Name: 'db' });
    expect(found.body).toEqual({ Volume: { Name: 'db', CreatedAt: '2026-11-01T10:00:00.000Z', Status: { volumeId: 'vol-1' } }, Err: '' });
    const missing = await callPlugin(socket, 'VolumeDriver.Get', { Name: 'nope' });
    expect(missing.body.Volume).toBeNull();
    expect(missing.body.Err).toMatch(/nope not found/);
  });

  it('never sends an empty CreatedAt (Docker cannot parse it)', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.List', {});
    expect(reply.body.Volumes).toContainEqual({ Name: 'no-time' });
  });

  it('returns the Mountpoint from Mount and passes the mount ID', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Mount', { Name: 'db', ID: 'c0ffee' });
    expect(reply.body).toEqual({ Mountpoint: '/var/lib/libstorage/volumes/db/data', Err: '' });
    expect(driver.calls).toContainEqual(['mount', 'db', 'c0ffee']);
  });

  it('answers an unknown method with a JSON error', async () => {
    const reply = await callPlugin(socket, 'VolumeDriver.Frobnicate', {});
    expect(reply.status).toBe(404);
    expect(reply.body.Err).toMatch(/unknown method/);
  });

  it('replaces a stale socket file but refuses to steal a live one', async () => {
    await expect(listenOnSocket(createApp(async () => driver, silentLogger()), socket)).rejects.toThrow(/another process/);
    const stale = path.join(dir, 'stale.sock');
    fs.writeFileSync(stale, '');
    const second = await listenOnSocket(createApp(async () => driver, silentLogger()), stale);
    expect((await callPlugin(stale, 'VolumeDriver.Capabilities', {})).body.Capabilities.Scope).toBe('global');
    await new Promise((resolve) => second.close(resolve));
  });
});
