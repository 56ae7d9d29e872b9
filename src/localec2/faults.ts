/**
 * Fault injection, switched by `POST /_berth/faults` with a JSON body that REPLACES the whole fault set
 * (`{}` clears it; `POST /_berth/reset` also clears it):
 *
 * {
 *   "throttle":    { "percent"?: 0-100, "everyNth"?: N, "count"?: N, "actions"?: ["DescribeVolumes", ...] },
 *   "serverError": { "percent"?, "everyNth"?, "count"?, "actions"?,
 *                    "code"?: "InternalError" (500, default) | "Unavailable" (503),
 *                    "afterEffect"?: true  -- the call takes effect, then its answer is lost and the error sent },
 *   "latencyMs":   { "AttachVolume": 500, "*": 20 },        -- added before the call is handled
 *   "stuckAttaching": true | ["vol-..."],                    -- new attachments stay "attaching" until detached
 *   "missingDevice":  true | ["vol-..."],                    -- attach succeeds, no loop device and no link appear
 *   "credentials": { "expireIssued"?: true,                  -- every credential issued so far expires now
 *                    "ttlSeconds"?: N },                     -- lifetime of credentials issued from now on
 *   "deny": ["ModifyVolume", ...],                           -- as if no IAM policy allowed these actions
 *   "imdsClientHops": N                                      -- how many hops every metadata client is away (1-255)
 * }
 *
 * A throttle or serverError block fails the matching calls (all actions when "actions" is absent): every
 * Nth matching call with "everyNth", a random share with "percent", otherwise every one; "count" stops it
 * after that many failures. Throttled calls get RequestLimitExceeded with HTTP 503, as EC2 sends it.
 * A denied action gets UnauthorizedOperation (HTTP 403, see authorization.ts) before it has any effect, DryRun or
 * not; "deny" names only actions the endpoint serves. "imdsClientHops" (default 1: the host itself) beyond an
 * instance's HttpPutResponseHopLimit makes its metadata service take IMDSv2 token PUTs and never answer them,
 * as EC2's answer dies on the way when its IP TTL (the hop limit) runs out; IMDSv1 requests are answered.
 */
import { Ec2Error } from './ec2-error';

export interface ErrorFault {
  percent?: number;
  everyNth?: number;
  count?: number;
  actions?: string[];
}

export interface ServerErrorFault extends ErrorFault {
  code?: 'InternalError' | 'Unavailable';
  afterEffect?: boolean;
}

export interface FaultSpec {
  throttle?: ErrorFault;
  serverError?: ServerErrorFault;
  latencyMs?: Record<string, number>;
  stuckAttaching?: boolean | string[];
  missingDevice?: boolean | string[];
  credentials?: { expireIssued?: boolean; ttlSeconds?: number };
  deny?: string[];
  imdsClientHops?: number;
}

/** A client on the instance itself is one hop from its metadata service. */
export const DEFAULT_IMDS_CLIENT_HOPS = 1;
/** The most an IP TTL can hold. */
const MAX_HOPS = 255;

export class FaultSpecError extends Error {}

export interface FaultDecision {
  latencyMs: number;
  /** Fails the call before it has any effect. */
  before?: Ec2Error;
  /** The call takes effect, then this error replaces its answer. */
  after?: Ec2Error;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(where: string, value: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new FaultSpecError(`${where}: unknown field "${key}" (allowed: ${allowed.join(', ')})`);
  }
}

function checkNumber(where: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new FaultSpecError(`${where} must be a number from ${min} to ${max}`);
  }
}

function checkErrorFault(where: string, value: unknown, extra: string[]): void {
  if (!isRecord(value)) throw new FaultSpecError(`${where} must be an object`);
  checkKeys(where, value, ['percent', 'everyNth', 'count', 'actions', ...extra]);
  checkNumber(`${where}.percent`, value.percent, 0, 100);
  checkNumber(`${where}.everyNth`, value.everyNth, 1, 1e9);
  checkNumber(`${where}.count`, value.count, 0, 1e9);
  if (value.actions !== undefined && !(Array.isArray(value.actions) && value.actions.every((a) => typeof a === 'string'))) {
    throw new FaultSpecError(`${where}.actions must be a list of action names`);
  }
}

function checkVolumeSelector(where: string, value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  if (Array.isArray(value) && value.every((id) => typeof id === 'string')) return;
  throw new FaultSpecError(`${where} must be true, false or a list of volume ids`);
}

function checkDeny(value: unknown, actionNames: readonly string[]): void {
  if (!(Array.isArray(value) && value.every((action) => typeof action === 'string'))) {
    throw new FaultSpecError('deny must be a list of action names');
  }
  const unknown = value.filter((action) => !actionNames.includes(action));
  if (unknown.length > 0) {
    throw new FaultSpecError(`deny: unknown action ${unknown.map((action) => JSON.stringify(action)).join(', ')} (allowed: ${actionNames.join(', ')})`);
  }
}

/** `actionNames`: the actions the endpoint serves, the only ones "deny" may name. */
export function parseFaultSpec(input: unknown, actionNames: readonly string[]): FaultSpec {
  if (!isRecord(input)) throw new FaultSpecError('the fault set must be a JSON object');
  checkKeys('faults', input, ['throttle', 'serverError', 'latencyMs', 'stuckAttaching', 'missingDevice', 'credentials', 'deny', 'imdsClientHops']);
  if (input.throttle !== undefined) checkErrorFault('throttle', input.throttle, []);
  if (input.serverError !== undefined) {
    checkErrorFault('serverError', input.serverError, ['code', 'afterEffect']);
    const { code, afterEffect } = input.serverError as Record<string, unknown>;
    if (code !== undefined && code !== 'InternalError' && code !== 'Unavailable') {
      throw new FaultSpecError('serverError.code must be "InternalError" or "Unavailable"');
    }
    if (afterEffect !== undefined && typeof afterEffect !== 'boolean') throw new FaultSpecError('serverError.afterEffect must be a boolean');
  }
  if (input.latencyMs !== undefined) {
    if (!isRecord(input.latencyMs)) throw new FaultSpecError('latencyMs must be an object of action name to milliseconds');
    for (const [action, ms] of Object.entries(input.latencyMs)) checkNumber(`latencyMs.${action}`, ms, 0, 600_000);
  }
  checkVolumeSelector('stuckAttaching', input.stuckAttaching);
  checkVolumeSelector('missingDevice', input.missingDevice);
  if (input.credentials !== undefined) {
    if (!isRecord(input.credentials)) throw new FaultSpecError('credentials must be an object');
    checkKeys('credentials', input.credentials, ['expireIssued', 'ttlSeconds']);
    checkNumber('credentials.ttlSeconds', input.credentials.ttlSeconds, 1, 7 * 24 * 3600);
    const { expireIssued } = input.credentials;
    if (expireIssued !== undefined && typeof expireIssued !== 'boolean') throw new FaultSpecError('credentials.expireIssued must be a boolean');
  }
  if (input.deny !== undefined) checkDeny(input.deny, actionNames);
  checkNumber('imdsClientHops', input.imdsClientHops, 1, MAX_HOPS);
  if (input.imdsClientHops !== undefined && !Number.isInteger(input.imdsClientHops)) throw new FaultSpecError('imdsClientHops must be a whole number');
  return input as FaultSpec;
}

class ErrorTrigger {
  private matched = 0;
  private fired = 0;

  constructor(private readonly fault: ErrorFault) {}

  fires(action: string): boolean {
    const { actions, everyNth, percent, count } = this.fault;
    if (actions && !actions.includes(action)) return false;
    if (count !== undefined && this.fired >= count) return false;
    this.matched += 1;
    let fire: boolean;
    if (everyNth !== undefined) fire = this.matched % everyNth === 0;
    else if (percent !== undefined) fire = Math.random() * 100 < percent;
    else fire = true;
    if (fire) this.fired += 1;
    return fire;
  }
}

function selects(selector: boolean | string[] | undefined, volumeId: string): boolean {
  return selector === true || (Array.isArray(selector) && selector.includes(volumeId));
}

export class Faults {
  private spec: FaultSpec = {};
  private throttle?: ErrorTrigger;
  private serverError?: ErrorTrigger;

  set(spec: FaultSpec): void {
    this.spec = spec;
    this.throttle = spec.throttle ? new ErrorTrigger(spec.throttle) : undefined;
    this.serverError = spec.serverError ? new ErrorTrigger(spec.serverError) : undefined;
  }

  clear(): void {
    this.set({});
  }

  current(): FaultSpec {
    return this.spec;
  }

  decide(action: string): FaultDecision {
    const latency = this.spec.latencyMs ?? {};
    const decision: FaultDecision = { latencyMs: latency[action] ?? latency['*'] ?? 0 };
    if (this.throttle?.fires(action)) {
      decision.before = new Ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
    } else if (this.serverError?.fires(action)) {
      const error =
        this.spec.serverError?.code === 'Unavailable'
          ? new Ec2Error('Unavailable', 'The server is overloaded and can\'t handle the request.', 503)
          : new Ec2Error('InternalError', 'An internal error has occurred.', 500);
      if (this.spec.serverError?.afterEffect) decision.after = error;
      else decision.before = error;
    }
    return decision;
  }

  stuckAttaching(volumeId: string): boolean {
    return selects(this.spec.stuckAttaching, volumeId);
  }

  missingDevice(volumeId: string): boolean {
    return selects(this.spec.missingDevice, volumeId);
  }

  credentialTtlSeconds(): number | undefined {
    return this.spec.credentials?.ttlSeconds;
  }

  denies(action: string): boolean {
    return this.spec.deny?.includes(action) ?? false;
  }

  imdsClientHops(): number {
    return this.spec.imdsClientHops ?? DEFAULT_IMDS_CLIENT_HOPS;
  }
}
