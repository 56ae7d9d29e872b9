// @ts-check
/**
 * Runs inside a swarm node's network namespace: listens on 127.0.0.1:<port> there and relays each connection to a
 * unix socket of the host (the local EC2 endpoint, this node's metadata service, the registry). Unix sockets are
 * reached by path, whatever the network namespace, so nothing else connects a node to the host.
 *
 *   node loopback-forwarder.js <port>=<unix socket path> ...
 *
 * Prints "ready" once every port listens; exits on SIGTERM or when its parent's stdin closes.
 */
'use strict';
const net = require('node:net');

const mappings = process.argv.slice(2).map((arg) => {
  const match = /^(\d+)=(\/.+)$/.exec(arg);
  if (!match) throw new Error(`expected <port>=<unix socket path>, got ${JSON.stringify(arg)}`);
  return { port: Number(match[1]), socketPath: match[2] };
});

function relay(client, socketPath) {
  const upstream = net.connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
}

let listening = 0;
for (const { port, socketPath } of mappings) {
  const server = net.createServer((client) => relay(client, socketPath));
  server.on('error', (err) => {
    process.stderr.write(`forwarder 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => {
    listening += 1;
    if (listening === mappings.length) process.stdout.write('ready\n');
  });
}

process.on('SIGTERM', () => process.exit(0));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
