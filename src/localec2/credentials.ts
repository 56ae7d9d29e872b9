/**
 * The keys the endpoint accepts: a configured long-term pair, and the temporary instance-role credentials
 * its metadata service hands out (persisted, so a restart keeps honouring what it issued).
 */
import { randomBytes } from 'node:crypto';
import type { InstanceRecord, LocalEc2State, TemporaryCredential } from './state';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Used when no --access-key/--secret-key is given. Documented in README.md only. */
export const DEFAULT_ACCESS_KEY: AccessKey = {
  accessKeyId: 'AKIDLOCALBERTH',
  secretAccessKey: 'localberth/secret/key/not/for/production',
};

export const DEFAULT_CREDENTIAL_TTL_SECONDS = 6 * 3600;

export type KnownKey =
  | { kind: 'static'; secretAccessKey: string }
  | { kind: 'temporary'; secretAccessKey: string; credential: TemporaryCredential };

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomKeyId(prefix: string): string {
  return prefix + [...randomBytes(16)].map((byte) => BASE32[byte % 32]).join('');
}

/** ISO time without milliseconds, as the metadata service writes it. */
function metadataTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class CredentialBook {
  constructor(
    private readonly state: LocalEc2State,
    private readonly staticKeys: AccessKey[],
    private readonly persist: () => void,
  ) {}

  lookup(accessKeyId: string): KnownKey | undefined {
    const fixed = this.staticKeys.find((key) => key.accessKeyId === accessKeyId);
    if (fixed) return { kind: 'static', secretAccessKey: fixed.secretAccessKey };
    const credential = this.state.credentials[accessKeyId];
    if (credential) return { kind: 'temporary', secretAccessKey: credential.secretAccessKey, credential };
    return undefined;
  }

  /** The role credentials the instance's metadata service serves now; rotated before they expire. */
  issue(instance: InstanceRecord, ttlSeconds: number, now = Date.now()): TemporaryCredential {
    const refreshMargin = Math.min(15 * 60 * 1000, (ttlSeconds * 1000) / 2);
    const current = Object.values(this.state.credentials)
      .filter((credential) => credential.instanceId === instance.id && credential.role === instance.role)
      .sort((a, b) => Date.parse(b.expiration) - Date.parse(a.expiration))[0];
    if (current && Date.parse(current.expiration) - now > refreshMargin) return current;
    const credential: TemporaryCredential = {
      accessKeyId: randomKeyId('ASIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(96).toString('base64'),
      instanceId: instance.id,
      role: instance.role,
      lastUpdated: metadataTime(now),
      expiration: metadataTime(now + ttlSeconds * 1000),
    };
    this.state.credentials[credential.accessKeyId] = credential;
    this.forgetLongExpired(now);
    this.persist();
    return credential;
  }

  /** Fault: every credential issued so far expires now (the metadata service then issues fresh ones). */
  expireAll(now = Date.now()): number {
    const issued = Object.values(this.state.credentials);
    for (const credential of issued) {
      if (Date.parse(credential.expiration) > now) credential.expiration = metadataTime(now - 1000);
    }
    this.persist();
    return issued.length;
  }

  private forgetLongExpired(now: number): void {
    for (const [id, credential] of Object.entries(this.state.credentials)) {
      if (Date.parse(credential.expiration) < now - 24 * 3600 * 1000) delete this.state.credentials[id];
    }
  }
}
