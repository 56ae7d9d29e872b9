/**
 * AWS Signature Version 4 verification for header-signed requests (what @aws-sdk/client-ec2 sends):
 * the canonical request is rebuilt from what arrived and the signature recomputed with the key's secret.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ParsedAuthorization {
  accessKeyId: string;
  /** yyyymmdd of the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256\s+Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/([^/\s]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const match = header ? AUTHORIZATION.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match;
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 3986 escaping as the SDK applies it (encodeURIComponent plus !'()*). */
function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${rawPath.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

function canonicalQuery(rawQuery: string): string {
  const pairs: string[] = [];
  for (const [key, value] of new URLSearchParams(rawQuery)) {
    if (key.toLowerCase() === 'x-amz-signature') continue;
    pairs.push(`${escapeUri(key)}=${escapeUri(value)}`);
  }
  return pairs.sort().join('&');
}

export interface SignedRequest {
  method: string;
  /** The request target as it arrived: path and query, still escaped. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The signature the request should carry if it was signed with `secret`. */
export function expectedSignature(request: SignedRequest, auth: ParsedAuthorization, secret: string): string {
  const [rawPath, rawQuery = ''] = request.url.split('?', 2);
  const canonicalHeaders = auth.signedHeaders
    .map((name) => `${name}:${(headerValue(request.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = headerValue(request.headers, 'x-amz-content-sha256') ?? sha256Hex(request.body);
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    canonicalHeaders,
    auth.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const amzDate = headerValue(request.headers, 'x-amz-date') ?? '';
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, auth.date), auth.region), auth.service), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
}

export function signatureMatches(request: SignedRequest, auth: ParsedAuthorization, secret: string): boolean {
  const expected = Buffer.from(expectedSignature(request, auth, secret), 'hex');
  const given = Buffer.from(auth.signature, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** x-amz-date (yyyymmddThhmmssZ) as a time, or undefined when malformed. */
export function parseAmzDate(text: string | undefined): Date | undefined {
  const match = text ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
}
