/** The transport around the protocol handlers: early binding, body limits, hang-ups and what each call logs. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { bindSocket, createApp, type PluginSocket } from '../../src/api/server';
import { BerthError } from '../../src/common/errors';
import { createLogger, silentLogger } from '../../src/log';
import type { VolumeOperations, VolumeView } from '../../src/volumes/operations';
import { callPlugin } from '../support/socket-client';

const VOLUME: VolumeView = { name: 'db', createdAt: '2026-11-01T10:00:00.000Z', status: { volumeId: 'vol-1' } };

class FakeDriver implements VolumeOperations {
  getDelayMs = 0;
  mountSignal?: AbortSignal;
  async create() {}
  async remove(name: string) {
    throw new BerthError('in-use', `volume ${name} is in use`);
  }
  mount(_name: string, _id: string, signal: AbortSignal): Promise<string> {
    this.mountSignal = signal;
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  }
  async unmount() {}
  async path() {
    return undefined;
  }
  async get(name: string) {
    if (this.getDelayMs) await new Promise((resolve) => setTimeout(resolve, this.getDelayMs));
    return name === 'db' ? VOLUME : undefined;
  }
  async list() {
    return [VOLUME];
  }
}

interface LogLine {
  level: string;
  message: string;
  method?: string;
  outcome?: string;
}

describe('plugin API transport', () => {
  let dir: string;
  let socket: string;
  let bound: PluginSocket | undefined;
  let driver: FakeDriver;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-api-server-'));
    socket = path.join(dir, 'berth.sock');
    driver = new FakeDriver();
  });
  afterEach(async () => {
    if (bound) {
      bound.server.closeAllConnections();
      await new Promise((resolve) => bound!.server.close(resolve));
      bound = undefined;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serve(logger = silentLogger()): Promise<void> {
    bound = await bindSocket(socket);
    bound.serve(await createApp(async () => driver, logger));
  }

  function capturedLogger(level: 'info' | 'debug') {
    const stream = new PassThrough();
    const lines: LogLine[] = [];
    stream.on('data', (chunk: Buffer) => {
      for (const text of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
    });
    return { logger: createLogger({ level, stream }), lines };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  /** A POST whose answer may come before its body is sent: resolves once the connection is closed, whatever broke. */
  function postUntilClosed(method: string, body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      let answer: { status: number; text: string } | undefined;
      const request = http.request({ socketPath: socket, path: `/${method}`, method: 'POST', agent: false }, (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          answer = { status: response.statusCode ?? 0, text };
          request.destroy();
        });
      });
      request.on('socket', (connection) => connection.on('error', () => undefined));
      request.on('error', () => undefined);
      request.on('close', () => (answer ? resolve(answer) : reject(new Error(`${method}: no answer`))));
      request.end(body);
    });
  }

  it('accepts connections as soon as the socket is bound, and answers calls made before the app was ready', async () => {
    bound = await bindSocket(socket);
    const early = callPlugin(socket, 'VolumeDriver.Get', { Name: 'db' });
    await settle();
    bound.serve(await createApp(async () => driver, silentLogger()));
    const reply = await early;
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ Volume: { Name: 'db', CreatedAt: '2026-11-01T10:00:00.000Z', Status: { volumeId: 'vol-1' } }, Err: '' });
  });

  it('refuses a body over 1 MiB and a compressed body with a clear Err', async () => {
    await serve();
    const huge = await postUntilClosed('VolumeDriver.Create', `{"Name":"${'x'.repeat(1024 * 1024)}"}`);
    expect(huge.status).toBe(200);
    expect(JSON.parse(huge.text).Err).toMatch(/larger than 1048576 bytes/);
    const zipped = await callPlugin(socket, 'VolumeDriver.Create', '{"Name":"db"}', { 'Content-Encoding': 'gzip' });
    expect(zipped.body.Err).toMatch(/gzip-encoded/);
    expect((await callPlugin(socket, 'VolumeDriver.Capabilities', {})).body).toEqual({ Capabilities: { Scope: 'global' } });
  });

  it('aborts the Mount when Docker hangs up, and Docker gets its answers on the same kept-alive connection otherwise', async () => {
    await serve();
    const request = http.request({ socketPath: socket, path: '/VolumeDriver.Mount', method: 'POST' });
    request.on('error', () => undefined);
    request.end('{"Name":"db","ID":"c1"}\n');
    for (let i = 0; i < 100 && !driver.mountSignal; i++) await settle();
    expect(driver.mountSignal?.aborted).toBe(false);
    request.destroy();
    for (let i = 0; i < 100 && !driver.mountSignal!.aborted; i++) await settle();
    expect(driver.mountSignal!.aborted).toBe(true);
  });

  it('logs quick reads at debug only; changes, failures and slow reads at info or above', async () => {
    const { logger, lines } = capturedLogger('info');
    await serve(logger);
    await callPlugin(socket, 'VolumeDriver.Capabilities', {});
    await callPlugin(socket, 'VolumeDriver.Get', { Name: 'db' });
    await callPlugin(socket, 'VolumeDriver.Get', { Name: 'nope' });
    await callPlugin(socket, 'VolumeDriver.Path', { Name: 'db' });
    await callPlugin(socket, 'VolumeDriver.List', {});
    await callPlugin(socket, 'VolumeDriver.Create', { Name: 'db' });
    await callPlugin(socket, 'VolumeDriver.Remove', { Name: 'db' });
    driver.getDelayMs = 150;
    await callPlugin(socket, 'VolumeDriver.Get', { Name: 'db' });
    await settle();
    const calls = lines.filter((line) => line.message === 'call').map((line) => `${line.level} ${line.method} ${line.outcome}`);
    expect(calls).toEqual(['info VolumeDriver.Create ok', 'warn VolumeDriver.Remove error', 'info VolumeDriver.Get ok']);
  });

  it('logs every call at debug', async () => {
    const { logger, lines } = capturedLogger('debug');
    await serve(logger);
    await callPlugin(socket, 'VolumeDriver.Capabilities', {});
    await callPlugin(socket, 'VolumeDriver.Get', { Name: 'nope' });
    await callPlugin(socket, 'VolumeDriver.Path', { Name: 'db' });
    await settle();
    const calls = lines.filter((line) => line.message === 'call').map((line) => `${line.level} ${line.method} ${line.outcome}`);
    expect(calls).toEqual(['debug VolumeDriver.Capabilities ok', 'debug VolumeDriver.Get not-found', 'debug VolumeDriver.Path ok']);
  });

  describe('hostile input', () => {
    /** Bytes of log written for everything the capture has seen so far. */
    const logBytes = (lines: LogLine[]) => lines.reduce((sum, line) => sum + JSON.stringify(line).length, 0);

    it('answers a megabyte-long name with a bounded Err and adds only a bounded line to the log', async () => {
      const { logger, lines } = capturedLogger('info');
      await serve(logger);
      const name = 'x'.repeat(1000 * 1000);
      const reply = await callPlugin(socket, 'VolumeDriver.Remove', JSON.stringify({ Name: name }));
      expect(reply.body.Err).toMatch(/^volume x+… \(\d+ more characters\)$/);
      expect(reply.body.Err.length).toBeLessThan(2_100);
      await settle();
      expect(logBytes(lines)).toBeLessThan(4_000);
    });

    it('says which fields came when the name is missing, without echoing the body', async () => {
      await serve();
      const reply = await callPlugin(socket, 'VolumeDriver.Mount', JSON.stringify({ ID: 'c1', Junk: 'y'.repeat(500_000) }));
      expect(reply.body.Err).toBe('request has no Name: Docker sent the fields "ID", "Junk"');
      const wrongType = await callPlugin(socket, 'VolumeDriver.Get', JSON.stringify({ Name: ['db'] }));
      expect(wrongType.body.Err).toBe('request has a list as Name: Docker sent the fields "Name"');
    });

    it('refuses JSON nested thousands of levels deep with a message saying so', async () => {
      await serve();
      const deep = `{"Name":"db","Opts":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      const reply = await callPlugin(socket, 'VolumeDriver.Create', deep);
      expect(reply.body.Err).toBe('berth: request body nests JSON 5001 levels deep; at most 32 are accepted');
      const brackets = await callPlugin(socket, 'VolumeDriver.Get', JSON.stringify({ Name: '[[[[{{{{' }));
      expect(brackets.body.Err).toBe('volume [[[[{{{{ not found');
    });

    it('answers an unknown method with a long path with a bounded Err (it echoed the whole path)', async () => {
      await serve();
      const reply = await callPlugin(socket, `VolumeDriver.${'A'.repeat(8000)}`, {});
      expect(reply.status).toBe(404);
      expect(reply.body.Err).toMatch(/^berth: unknown method POST \/VolumeDriver\.A+… \(7814 more characters\)$/);
    });

    it('logs the first few of a flood of identical failures, then counts them', async () => {
      const { logger, lines } = capturedLogger('info');
      await serve(logger);
      for (let i = 0; i < 60; i++) await callPlugin(socket, 'VolumeDriver.Remove', { Name: `db${i}` });
      await settle();
      const failures = lines.filter((line) => line.message === 'call' && line.outcome === 'error');
      expect(failures).toHaveLength(10);
    });
  });
});
