#!/usr/bin/env node
/**
 * The reference for protocol latency: a bare Node `http` server on a unix socket that reads the request body and
 * answers every POST with one fixed plugin-protocol body. Prints "listening" once it accepts connections.
 *
 *   node bench/bare-server.cjs <socket path>
 */
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: bare-server.cjs <socket path>\n');
  process.exit(2);
}
const BODY = Buffer.from('{"Err":""}');
const server = http.createServer((request, response) => {
  request.on('data', () => undefined);
  request.on('end', () => {
    response.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': BODY.length });
    response.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
fs.rmSync(socketPath, { force: true });
server.listen(socketPath, () => process.stdout.write('listening\n'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
