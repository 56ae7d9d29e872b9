/**
 * berth's Prometheus metrics: counters and latency histograms fed by the telemetry berth's parts report (EC2
 * requests, Docker calls), and gauges read at scrape time from the volume service's own state (never from EC2).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Telemetry } from '../common/telemetry';
import type { VolumeUsageSource } from '../volumes/operations';

/** EC2 answers in tens of milliseconds to seconds; a status wait's polls and a throttled retry are in between. */
const EC2_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Docker calls: a cached Get in a millisecond, a Mount that attaches and formats in seconds to a minute. */
const DOCKER_SECONDS = [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A volume's steps: a mount in milliseconds, an attach in seconds, an fsck or a create from a snapshot in minutes. */
const STEP_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const THROTTLING_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);

export interface BerthMetrics {
  registry: Registry;
  telemetry: Telemetry;
}

/** `volumes`: the volume service once it is ready (the gauges are left out until then). */
export function createMetrics(volumes: () => VolumeUsageSource | undefined): BerthMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'berth_' });
  const ec2Requests = new Counter({
    name: 'berth_ec2_requests_total',
    help: 'HTTP requests to EC2 (every attempt of a call), by action and outcome (ok or the error code)',
    labelNames: ['action', 'outcome'],
    registers: [registry],
  });
  const ec2Throttled = new Counter({
    name: 'berth_ec2_throttled_total',
    help: 'EC2 requests refused by EC2\'s request limits (RequestLimitExceeded), by action',
    labelNames: ['action'],
    registers: [registry],
  });
  const ec2Seconds = new Histogram({
    name: 'berth_ec2_request_duration_seconds',
    help: 'Time from sending an EC2 request to its answer, by action',
    labelNames: ['action'],
    buckets: EC2_SECONDS,
    registers: [registry],
  });
  const dockerCalls = new Counter({
    name: 'berth_docker_calls_total',
    help: 'Calls from Docker (VolumeDriver methods), by method and outcome (ok or error)',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const dockerSeconds = new Histogram({
    name: 'berth_docker_call_duration_seconds',
    help: 'Time berth took to answer a call from Docker, by method',
    labelNames: ['method'],
    buckets: DOCKER_SECONDS,
    registers: [registry],
  });
  const stepSeconds = new Histogram({
    name: 'berth_volume_step_duration_seconds',
    help: 'Time each step of a volume\'s life took (create, attach, detach, delete, modify, format, fsck, mount, unmount, grow), by step and outcome',
    labelNames: ['step', 'outcome'],
    buckets: STEP_SECONDS,
    registers: [registry],
  });
  const cacheLookups = new Counter({
    name: 'berth_cache_lookups_total',
    help: 'Look-ups answered from berth\'s volume cache (hit) or from EC2 (miss): cache volume for one name (Get, Path), list for List',
    labelNames: ['cache', 'outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'berth_volumes_known',
    help: 'Volumes of this host\'s namespace in berth\'s volume cache',
    registers: [registry],
    collect() {
      const usage = volumes()?.usage();
      if (usage) this.set(usage.known);
    },
  });
  new Gauge({
    name: 'berth_volumes_mounted',
    help: 'Volumes mounted on this host',
    registers: [registry],
    collect() {
      const usage = volumes()?.usage();
      if (usage) this.set(usage.mounted.length);
    },
  });
  new Gauge({
    name: 'berth_volume_users',
    help: 'Containers using each volume mounted on this host',
    labelNames: ['volume'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, users } of volumes()?.usage().mounted ?? []) this.set({ volume: name }, users);
    },
  });

  const telemetry: Telemetry = {
    ec2Request(action, outcome, seconds) {
      ec2Requests.inc({ action, outcome });
      ec2Seconds.observe({ action }, seconds);
      if (THROTTLING_CODES.has(outcome)) ec2Throttled.inc({ action });
    },
    dockerCall(method, outcome, seconds) {
      dockerCalls.inc({ method, outcome });
      dockerSeconds.observe({ method }, seconds);
    },
    volumeStep(step, outcome, seconds) {
      stepSeconds.observe({ step, outcome }, seconds);
    },
    cacheLookup(cache, outcome) {
      cacheLookups.inc({ cache, outcome });
    },
  };
  return { registry, telemetry };
}
