/**
 * The CSI door: Identity, Controller and Node (csi.v1) over a unix socket, for Docker's Swarm cluster volumes.
 * Transport only: each call's request goes to its handler, the answer or error (status.ts) back to the caller, and
 * one line to the log. The secrets fields of requests are never read, so never logged or echoed.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BerthError, errorMessage } from '../common/errors';
import { anySignal } from '../common/signals';
import { clip } from '../common/text';
import type { Logger } from '../log';
import type { ClusterOperations } from '../volumes/operations';
import type { CsiHandler, CsiHandlers } from './calls';
import { controllerHandlers } from './controller';
import { CSI_SERVICES, csiService, type CsiServiceName } from './definition';
import { isMessage, type Message } from './fields';
import { identityHandlers } from './identity';
import { nodeHandlers } from './node';
import { csiStatus, invalidArgument, statusName } from './status';

export const HANDLERS: Record<CsiServiceName, CsiHandlers> = { Identity: identityHandlers, Controller: controllerHandlers, Node: nodeHandlers };

/** Asked every 20 s by each node: logged at debug unless they fail, so that the log keeps what changes something. */
const ROUTINE: ReadonlySet<string> = new Set(['Probe', 'GetPluginInfo', 'GetPluginCapabilities', 'ControllerGetCapabilities', 'NodeGetCapabilities', 'NodeGetInfo']);
const MAX_LOGGED_NAME_CHARS = 256;
/** CSI requests are a few hundred bytes; the default (4 MiB) is more than any caller needs. */
const MAX_REQUEST_BYTES = 1024 * 1024;
const SHUTDOWN_GRACE_MS = 5_000;
/** setTimeout's longest delay; a deadline further away than this is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const UNDECODABLE = Symbol('undecodable');

export interface CsiServer {
  socketPath: string;
  close(): Promise<void>;
}

interface Door {
  operations: () => Promise<ClusterOperations>;
  logger: Logger;
  stopping: AbortSignal;
}

export async function serveCsi(socketPath: string, operations: () => Promise<ClusterOperations>, logger: Logger): Promise<CsiServer> {
  const absolute = path.resolve(socketPath);
  const stopping = new AbortController();
  const door: Door = { operations, logger, stopping: stopping.signal };
  const server = new Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  for (const service of CSI_SERVICES) {
    const definition = tolerantOfBadBytes(csiService(service));
    const implementation: UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(HANDLERS[service])) implementation[method] = unary(method, handler, door);
    server.addService(definition, implementation);
  }
  fs.mkdirSync(path.dirname(absolute), { recursive: true });
  await removeStaleSocket(absolute);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${absolute}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
  });
  // Only dockerd, as root, dials it.
  fs.chmodSync(absolute, 0o600);
  return {
    socketPath: absolute,
    async close() {
      stopping.abort(new BerthError('not-ready', 'berth is shutting down'));
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      fs.rmSync(absolute, { force: true });
    },
  };
}

/** grpc-js answers INTERNAL for bytes that do not decode; they are the caller's mistake, so they reach the handler. */
function tolerantOfBadBytes(definition: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(definition).map(([method, attributes]) => {
    const decode = attributes.requestDeserialize;
    const requestDeserialize = (bytes: Buffer) => {
      try {
        return decode(bytes);
      } catch (error) {
        return { [UNDECODABLE]: errorMessage(error) };
      }
    };
    return [method, { ...attributes, requestDeserialize }];
  });
  return Object.fromEntries(methods) as ServiceDefinition;
}

function unary(method: string, handler: CsiHandler, door: Door) {
  return (call: ServerUnaryCall<unknown, Message>, answer: sendUnaryData<Message>) => {
    const started = Date.now();
    const request = call.request;
    const { signal, settle } = callSignal(call, door.stopping);
    const volume = volumeOf(request);
    const fields: Record<string, unknown> = volume === undefined ? { method } : { method, volume };
    Promise.resolve()
      .then(() => handler({ request: checkedRequest(request, method), signal, operations: door.operations }))
      .then(
        (result) => {
          answer(null, result);
          door.logger.log(ROUTINE.has(method) ? 'debug' : 'info', 'csi call', { ...fields, outcome: 'ok', ms: Date.now() - started });
        },
        (error: unknown) => {
          const status = csiStatus(error);
          answer(status);
          door.logger.info('csi call', { ...fields, outcome: statusName(status.code), ms: Date.now() - started, error: status.details });
        },
      )
      .catch((error: unknown) => door.logger.error('csi call not answered', { method, error: errorMessage(error) }))
      .finally(settle);
  };
}

function checkedRequest(request: unknown, method: string): Message {
  if (isMessage(request) && UNDECODABLE in request) throw invalidArgument(`the ${method} request does not decode as CSI v1: ${String(request[UNDECODABLE])}`);
  if (!isMessage(request)) throw invalidArgument(`the ${method} request is not a message`);
  return request;
}

/** The volume a request names, cut short for the log (never any other field: secrets stay out). */
function volumeOf(request: unknown): string | undefined {
  if (!isMessage(request)) return undefined;
  const name = typeof request.volume_id === 'string' && request.volume_id ? request.volume_id : request.name;
  return typeof name === 'string' && name ? clip(name, MAX_LOGGED_NAME_CHARS) : undefined;
}

/** Aborts when the caller cancels, its deadline passes (grpc-js answers then, but does not stop the work), or at shutdown. */
function callSignal(call: ServerUnaryCall<unknown, unknown>, stopping: AbortSignal): { signal: AbortSignal; settle(): void } {
  const ended = new AbortController();
  const cancelled = () => ended.abort(new BerthError('timeout', 'the CSI caller cancelled the call'));
  call.on('cancelled', cancelled);
  const deadline = call.getDeadline();
  const remainingMs = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  const timer =
    Number.isFinite(remainingMs) && remainingMs < MAX_TIMER_MS
      ? setTimeout(() => ended.abort(new BerthError('timeout', "the CSI call's deadline passed")), Math.max(0, remainingMs))
      : undefined;
  return {
    signal: anySignal([ended.signal, stopping]),
    settle() {
      clearTimeout(timer);
      call.off('cancelled', cancelled);
    },
  };
}

/** A socket file nothing answers on is left by a dead daemon; one that answers belongs to a live one. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket: berth will not replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is serving ${socketPath}`);
  fs.rmSync(socketPath, { force: true });
}
