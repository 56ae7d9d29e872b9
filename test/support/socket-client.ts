/** A minimal client speaking to a plugin socket the way Docker does: POST, no Content-Type, body ending in newline. */
import http from 'node:http';

export interface PluginReply {
  status: number;
  contentType: string | undefined;
  raw: string;
  body: Record<string, any>;
}

export function callPlugin(socketPath: string, method: string, body?: string | object, headers: Record<string, string> = {}): Promise<PluginReply> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        socketPath,
        path: `/${method}`,
        method: 'POST',
        headers: { Host: 'plugin.moby.localhost', Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(payload), ...headers },
      },
      (response) => {
        let raw = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (raw += chunk));
        response.on('end', () => {
          let parsed: Record<string, any> = {};
          try {
            parsed = JSON.parse(raw);
          } catch {
            /* the assertion on raw will say what came back */
          }
          resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], raw, body: parsed });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
