/**
 * One instance's metadata service (IMDS), on its own address: IMDSv2 tokens (PUT /latest/api/token),
 * IMDSv1 unless the instance requires tokens, and the paths berth and the SDK read, including the
 * instance role's temporary credentials. A PUT from a client more hops away than the instance's
 * HttpPutResponseHopLimit (the imdsClientHops fault) is taken and never answered: on EC2 the answer's IP TTL
 * is the hop limit, so it dies on the way and the client waits until it gives up. Such a request holds its
 * connection open until the client closes it or the endpoint stops (which closes every connection).
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Logger } from '../log';
import { regionOfZone, zoneIdOf } from './ids';
import { DEFAULT_HOP_LIMIT, type InstanceRecord, type TemporaryCredential } from './state';

const MAX_TOKEN_TTL_SECONDS = 21600;

export interface ImdsDeps {
  instance(): InstanceRecord;
  /** Device names of the instance's attached data volumes, in attach order. */
  attachedDevices(): string[];
  /** The role credentials to serve now (issues or rotates them). */
  roleCredentials(): TemporaryCredential;
  /** How many hops every metadata client is away (1: on the instance itself). */
  clientHops(): number;
  accountId: string;
  log: Logger;
}

type Content = string | (() => string);

function withoutDev(device: string): string {
  return device.replace(/^\/dev\//, '');
}

function metadataTree(deps: ImdsDeps): Map<string, Content> {
  const instance = deps.instance();
  const region = regionOfZone(instance.availabilityZone);
  const tree = new Map<string, Content>();
  const meta = '/latest/meta-data/';
  tree.set(`${meta}ami-id`, instance.imageId);
  tree.set(`${meta}instance-id`, instance.id);
  tree.set(`${meta}instance-type`, instance.instanceType);
  tree.set(`${meta}hostname`, `${instance.id}.${region}.compute.internal`);
  tree.set(`${meta}local-hostname`, `${instance.id}.${region}.compute.internal`);
  tree.set(`${meta}placement/availability-zone`, instance.availabilityZone);
  tree.set(`${meta}placement/availability-zone-id`, zoneIdOf(instance.availabilityZone));
  tree.set(`${meta}placement/region`, region);
  tree.set(`${meta}services/domain`, 'amazonaws.com');
  tree.set(`${meta}services/partition`, 'aws');
  tree.set(`${meta}block-device-mapping/ami`, '/dev/xvda');
  tree.set(`${meta}block-device-mapping/root`, '/dev/xvda');
  deps.attachedDevices().forEach((device, index) => tree.set(`${meta}block-device-mapping/ebs${index + 1}`, withoutDev(device)));
  tree.set(`${meta}iam/info`, () =>
    JSON.stringify(
      {
        Code: 'Success',
        LastUpdated: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        InstanceProfileArn: `arn:aws:iam::${deps.accountId}:instance-profile/${instance.role}`,
        InstanceProfileId: `AIPA${instance.id.slice(2, 18).toUpperCase()}`,
      },
      null,
      2,
    ),
  );
  tree.set(`${meta}iam/security-credentials/${instance.role}`, () => {
    const credential = deps.roleCredentials();
    return JSON.stringify(
      {
        Code: 'Success',
        LastUpdated: credential.lastUpdated,
        Type: 'AWS-HMAC',
        AccessKeyId: credential.accessKeyId,
        SecretAccessKey: credential.secretAccessKey,
        Token: credential.sessionToken,
        Expiration: credential.expiration,
      },
      null,
      2,
    );
  });
  tree.set('/latest/dynamic/instance-identity/document', () =>
    JSON.stringify(
      {
        accountId: deps.accountId,
        architecture: 'x86_64',
        availabilityZone: instance.availabilityZone,
        billingProducts: null,
        devpayProductCodes: null,
        marketplaceProductCodes: null,
        imageId: instance.imageId,
        instanceId: instance.id,
        instanceType: instance.instanceType,
        kernelId: null,
        pendingTime: instance.launchTime.replace(/\.\d{3}Z$/, 'Z'),
        privateIp: '127.0.0.1',
        ramdiskId: null,
        region,
        version: '2017-09-30',
      },
      null,
      2,
    ),
  );
  return tree;
}

/** A leaf's content, or a directory listing (children, directories with a trailing slash). */
function lookup(tree: Map<string, Content>, requestPath: string): string | undefined {
  const leaf = tree.get(requestPath);
  if (leaf !== undefined) return typeof leaf === 'function' ? leaf() : leaf;
  const prefix = requestPath.endsWith('/') ? requestPath : `${requestPath}/`;
  const children = new Set<string>();
  for (const key of tree.keys()) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    children.add(slash < 0 ? rest : rest.slice(0, slash + 1));
  }
  return children.size > 0 ? [...children].sort().join('\n') : undefined;
}

export function imdsRequestListener(deps: ImdsDeps): http.RequestListener {
  const tokens = new Map<string, number>();

  return (req, res) => {
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    req.resume();
    const requestPath = decodeURIComponent(new URL(req.url ?? '/', 'http://imds').pathname);

    if (requestPath === '/latest/api/token') {
      const hopLimit = deps.instance().hopLimit ?? DEFAULT_HOP_LIMIT;
      if (req.method === 'PUT' && deps.clientHops() > hopLimit) {
        deps.log.debug('metadata token PUT left unanswered: the client is beyond the hop limit', { clientHops: deps.clientHops(), hopLimit });
        return;
      }
      if (req.method !== 'PUT') return send(405, 'Method Not Allowed');
      if (req.headers['x-forwarded-for'] !== undefined) return send(403, 'Forbidden');
      const ttlText = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = typeof ttlText === 'string' && /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TOKEN_TTL_SECONDS)) return send(400, 'Bad Request');
      const now = Date.now();
      for (const [token, expires] of tokens) if (expires <= now) tokens.delete(token);
      const token = randomBytes(42).toString('base64');
      tokens.set(token, now + ttl * 1000);
      return send(200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'Method Not Allowed');
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (token !== undefined) {
      const expires = typeof token === 'string' ? tokens.get(token) : undefined;
      if (expires === undefined || expires <= Date.now()) return send(401, 'Unauthorized');
    } else if (deps.instance().imdsv2 === 'required') {
      return send(401, 'Unauthorized');
    }
    try {
      const body = lookup(metadataTree(deps), requestPath);
      if (body === undefined) return send(404, 'Not Found');
      return send(200, body);
    } catch (err) {
      deps.log.error('metadata request failed', { path: requestPath, error: String(err) });
      return send(500, 'Internal Server Error');
    }
  };
}
