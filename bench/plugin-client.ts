/**
 * A client for a volume plugin's unix socket that sends what Docker sends: POST /<Method>, the plugin Accept
 * header, no Content-Type, a JSON body ending in a newline, over a kept-alive connection (Docker's plugin client
 * reuses its connection too). One request at a time, so a sample is the latency of one call.
 */
import http from 'node:http';

const ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface PluginAnswer {
  status: number;
  body: Record<string, unknown>;
  bytes: number;
}

export class PluginClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly socketPath: string) {}

  call(method: string, body: object = {}, timeoutMs = 30_000): Promise<PluginAnswer> {
    const payload = `${JSON.stringify(body)}\n`;
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          path: `/${method}`,
          method: 'POST',
          headers: { Host: 'plugin.moby.localhost', Accept: ACCEPT, 'Content-Length': Buffer.byteLength(payload) },
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const raw = Buffer.concat(chunks);
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(raw.toString('utf8'));
            } catch {
              reject(new Error(`${method}: answer is not JSON: ${raw.toString('utf8').slice(0, 200)}`));
              return;
            }
            resolve({ status: response.statusCode ?? 0, body: parsed, bytes: raw.length });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method}: no answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** Like call(), but an answer carrying Err is an error. */
  async ok(method: string, body: object = {}): Promise<Record<string, unknown>> {
    const answer = await this.call(method, body);
    if (answer.status !== 200 || (typeof answer.body.Err === 'string' && answer.body.Err)) {
      throw new Error(`${method} ${JSON.stringify(body)}: ${answer.status} ${String(answer.body.Err ?? '')}`);
    }
    return answer.body;
  }

  close(): void {
    this.agent.destroy();
  }
}
