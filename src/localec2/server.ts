/**
 * startLocalEc2: loads the data dir's state, sets up the instances, re-adopts their attachments, resumes
 * unfinished transitions and opens the EC2 listener and one metadata listener per instance.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Mutex } from 'async-mutex';
import { type Logger, silentLogger } from '../log';
import { adoptAttachments, attachedTo } from './actions/attachments';
import { type Ctx, type Delays, NO_DELAYS } from './actions/context';
import { resumeInstanceTransitions } from './actions/instance-states';
import { resumeModifications } from './actions/modify';
import { resumeSnapshots } from './actions/snapshots';
import { resumeVolumeTransitions } from './actions/volumes';
import { CallLog } from './call-log';
import { type AccessKey, CredentialBook, DEFAULT_ACCESS_KEY, DEFAULT_CREDENTIAL_TTL_SECONDS } from './credentials';
import { ec2RequestListener } from './ec2-server';
import { Faults } from './faults';
import { RateLimits } from './rate-limits';
import { imdsRequestListener } from './imds';
import { type InstanceSpec, setUpInstances } from './instance-setup';
import { closeServer, listen, parseListenAddress } from './listen';
import { Scheduler } from './scheduler';
import { StateStore } from './state';

export const DEFAULT_ACCOUNT_ID = '123456789012';

export interface LocalEc2Options {
  /** host:port (loopback only; port 0 picks one) or unix:<path>. */
  listen: string;
  dataDir: string;
  instances?: InstanceSpec[];
  /** Milliseconds per transition; default 0 for all. */
  delays?: Partial<Delays>;
  /** Long-term keys accepted besides the issued role credentials; default DEFAULT_ACCESS_KEY. */
  accessKeys?: AccessKey[];
  accountId?: string;
  logger?: Logger;
  /** EC2's documented request limits divided by this (see rate-limits.ts); none when absent. */
  throttleDivisor?: number;
}

export interface LocalEc2Instance {
  id: string;
  az: string;
  /** Metadata service URL (http://127.0.0.1:PORT) or unix:<path>. */
  imds: string;
  devdir: string;
}

export interface LocalEc2 {
  ec2Url: string;
  instances: LocalEc2Instance[];
  dataDir: string;
  /** Stops listening; volumes, attachments, loop devices and links stay. */
  close(): Promise<void>;
}

export async function startLocalEc2(options: LocalEc2Options): Promise<LocalEc2> {
  const log = options.logger ?? silentLogger();
  fs.mkdirSync(options.dataDir, { recursive: true });
  const dataDir = fs.realpathSync(path.resolve(options.dataDir));
  fs.mkdirSync(path.join(dataDir, 'volumes'), { recursive: true });
  fs.mkdirSync(path.join(dataDir, 'snapshots'), { recursive: true });
  const ec2Address = parseListenAddress(options.listen);

  const store = StateStore.open(dataDir);
  const state = store.state;
  const instances = setUpInstances(state, options.instances ?? [], dataDir);
  for (const instance of instances) fs.mkdirSync(instance.deviceDir, { recursive: true });
  const imdsAddresses = instances.map((instance) => parseListenAddress(instance.imdsListen));
  store.save();

  const lock = new Mutex();
  const faults = new Faults();
  const scheduler = new Scheduler(lock, (what, err) => log.error('transition failed', { transition: what, error: err instanceof Error ? err.message : String(err) }));
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const ctx: Ctx = {
    state,
    dataDir,
    accountId,
    delays: { ...NO_DELAYS, ...options.delays },
    faults,
    scheduler,
    log,
    commit: () => store.save(),
  };
  const credentials = new CredentialBook(state, options.accessKeys ?? [DEFAULT_ACCESS_KEY], () => store.save());
  const calls = new CallLog();

  await lock.runExclusive(async () => {
    await adoptAttachments(ctx);
    await resumeVolumeTransitions(ctx);
    await resumeModifications(ctx);
    await resumeSnapshots(ctx);
    await resumeInstanceTransitions(ctx);
  });

  const servers: http.Server[] = [];
  const close = async () => {
    await Promise.all(servers.map(closeServer));
    await scheduler.close();
    store.save();
  };

  try {
    const imdsUrls = new Map<string, string>();
    const ec2Server = http.createServer(
      ec2RequestListener({
        ctx,
        lock,
        credentials,
        faults,
        rateLimits: options.throttleDivisor === undefined ? undefined : new RateLimits(options.throttleDivisor),
        calls,
        log,
        describeState: () => ({
          dataDir,
          instances: Object.values(state.instances).map((instance) => ({ ...instance, imds: imdsUrls.get(instance.id) })),
          volumes: Object.values(state.volumes),
          snapshots: Object.values(state.snapshots),
          modifications: Object.values(state.modifications),
          credentials: Object.values(state.credentials).map(({ accessKeyId, instanceId, role, expiration }) => ({ accessKeyId, instanceId, role, expiration })),
          faults: faults.current(),
        }),
      }),
    );
    servers.push(ec2Server);
    const ec2Url = await listen(ec2Server, ec2Address);

    const described: LocalEc2Instance[] = [];
    for (const [index, instance] of instances.entries()) {
      const server = http.createServer(
        imdsRequestListener({
          instance: () => instance,
          attachedDevices: () =>
            attachedTo(state, instance.id)
              .filter((volume) => !volume.rootOf && volume.attachment?.status === 'attached')
              .sort((a, b) => a.attachment!.seq - b.attachment!.seq)
              .map((volume) => volume.attachment!.device),
          roleCredentials: () => credentials.issue(instance, faults.credentialTtlSeconds() ?? DEFAULT_CREDENTIAL_TTL_SECONDS),
          clientHops: () => faults.imdsClientHops(),
          accountId,
          log,
        }),
      );
      servers.push(server);
      const imds = await listen(server, imdsAddresses[index]);
      imdsUrls.set(instance.id, imds);
      described.push({ id: instance.id, az: instance.availabilityZone, imds, devdir: instance.deviceDir });
    }
    log.info('local-ec2 listening', { ec2: ec2Url, instances: described });
    return { ec2Url, instances: described, dataDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}
