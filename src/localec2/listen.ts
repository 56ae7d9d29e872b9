/** Listen addresses: `host:port` on a loopback address (port 0 picks a free one) or `unix:<path>`. */
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const socketPath = text.slice('unix:'.length);
    if (!socketPath) throw new Error(`listen address ${JSON.stringify(text)}: the socket path is empty`);
    if (Buffer.byteLength(socketPath) > 107) throw new Error(`listen address ${JSON.stringify(text)}: unix socket paths are limited to 107 bytes`);
    return { kind: 'unix', path: socketPath };
  }
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!match) throw new Error(`listen address ${JSON.stringify(text)}: expected host:port or unix:<path>`);
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`listen address ${JSON.stringify(text)}: port out of range`);
  if (!isLoopback(host)) throw new Error(`listen address ${JSON.stringify(text)}: local-ec2 listens on loopback addresses only`);
  return { kind: 'tcp', host, port };
}

/** Starts listening and resolves with the URL clients use (`http://127.0.0.1:PORT` or `unix:<path>`). */
export async function listen(server: http.Server, address: ListenAddress): Promise<string> {
  if (address.kind === 'unix') {
    try {
      if (fs.lstatSync(address.path).isSocket()) fs.rmSync(address.path);
    } catch {
      // nothing there
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      resolve();
    };
    if (address.kind === 'unix') server.listen(address.path, ready);
    else server.listen(address.port, address.host, ready);
  });
  if (address.kind === 'unix') return `unix:${address.path}`;
  const { port } = server.address() as AddressInfo;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `http://${host}:${port}`;
}

export async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
