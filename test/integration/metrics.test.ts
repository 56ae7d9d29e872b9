/**
 * The metrics door (EBS_METRICSADDR) of a real daemon, scraped over HTTP as Prometheus would: every EC2 request it
 * counts is one the local endpoint logged (by action and outcome, throttled ones included), every Docker call is
 * counted by method and outcome, and the gauges follow what is mounted here.
 */
import fs from 'node:fs';
import { startDaemon, type RunningDaemon } from '../support/daemon';
import { startLocalEc2, type LocalEc2 } from '../support/local-ec2';
import { unmountAllUnder } from '../support/mounts';
import { describeAsRoot } from '../support/privileges';
import { parseSamples, sampleValue } from '../support/prometheus';
import { freeLoopbackPort } from '../support/sockets';

const tally = (pairs: string[]) => pairs.reduce<Record<string, number>>((counts, key) => ({ ...counts, [key]: (counts[key] ?? 0) + 1 }), {});

describeAsRoot('metrics over HTTP (EBS_METRICSADDR)', () => {
  let endpoint: LocalEc2;
  let daemon: (RunningDaemon & { root: string }) | undefined;
  let address = '';

  const scrape = async () => {
    const response = await fetch(`http://${address}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseSamples(await response.text());
  };
  const value = sampleValue;
  const ok = async (method: string, body: object) => {
    const reply = await daemon!.call(`VolumeDriver.${method}`, body);
    if (reply.body.Err) throw new Error(`${method}: ${reply.body.Err}`);
    return reply.body;
  };

  beforeAll(async () => {
    endpoint = await startLocalEc2(['id=i-0e7e0000000000001,az=us-east-1a']);
    address = `127.0.0.1:${await freeLoopbackPort()}`;
    daemon = await startDaemon({ ec2: endpoint.ec2, instance: endpoint.instances[0], env: { EBS_METRICSADDR: address } });
  });

  afterAll(async () => {
    await daemon?.stop();
    if (daemon) {
      await unmountAllUnder(daemon.root);
      fs.rmSync(daemon.root, { recursive: true, force: true });
    }
    await endpoint?.destroy();
  });

  it('counts Docker calls by method and outcome, and shows what is mounted here and by how many', async () => {
    await ok('Create', { Name: 'm1', Opts: { size: '1' } });
    await ok('Mount', { Name: 'm1', ID: 'c1' });
    await ok('Mount', { Name: 'm1', ID: 'c2' });
    const inUse = await scrape();
    expect(value(inUse, 'berth_volumes_mounted')).toBe(1);
    expect(value(inUse, 'berth_volume_users', { volume: 'm1' })).toBe(2);
    expect(value(inUse, 'berth_volumes_known')).toBe(1);

    await ok('Unmount', { Name: 'm1', ID: 'c1' });
    await ok('Unmount', { Name: 'm1', ID: 'c2' });
    expect((await daemon!.call('VolumeDriver.Mount', { Name: 'missing', ID: 'c3' })).body.Err).toBeTruthy();
    const after = await scrape();
    expect(value(after, 'berth_volumes_mounted')).toBe(0);
    expect(after.filter((sample) => sample.name === 'berth_volume_users')).toEqual([]);
    expect(value(after, 'berth_docker_calls_total', { method: 'Create', outcome: 'ok' })).toBe(1);
    expect(value(after, 'berth_docker_calls_total', { method: 'Mount', outcome: 'ok' })).toBe(2);
    expect(value(after, 'berth_docker_calls_total', { method: 'Mount', outcome: 'error' })).toBe(1);
    expect(value(after, 'berth_docker_calls_total', { method: 'Unmount', outcome: 'ok' })).toBe(2);
    expect(value(after, 'berth_docker_call_duration_seconds_count', { method: 'Mount' })).toBe(3);
    // One volume made, attached, formatted and mounted once, then released: each step timed once.
    for (const step of ['create', 'attach', 'format', 'mount', 'unmount', 'detach']) {
      expect([step, value(after, 'berth_volume_step_duration_seconds_count', { step, outcome: 'ok' })]).toEqual([step, 1]);
    }
  });

  it('counts look-ups answered from the volume cache and from EC2', async () => {
    await ok('Create', { Name: 'cached', Opts: { size: '1' } });
    const before = await scrape();
    await ok('Get', { Name: 'cached' });
    await ok('Get', { Name: 'never-made' }).catch(() => undefined);
    const after = await scrape();
    const grew = (outcome: string) => value(after, 'berth_cache_lookups_total', { cache: 'volume', outcome }) - value(before, 'berth_cache_lookups_total', { cache: 'volume', outcome });
    expect([grew('hit'), grew('miss')]).toEqual([1, 1]);
    await ok('Remove', { Name: 'cached' });
  });

  it('counts every EC2 request the endpoint logged, by action and outcome, throttled ones as throttles', async () => {
    await endpoint.admin('POST', 'faults', { throttle: { percent: 40 } });
    try {
      await ok('Create', { Name: 'm2', Opts: { size: '1' } });
      await ok('Mount', { Name: 'm2', ID: 'c1' });
      await ok('Unmount', { Name: 'm2', ID: 'c1' });
    } finally {
      await endpoint.admin('POST', 'faults', {});
    }
    await ok('Remove', { Name: 'm2' });
    await ok('Remove', { Name: 'm1' });

    // The call log and a scrape agree once no request is under way between the two reads of the log.
    for (let attempt = 1; ; attempt++) {
      const before = (await endpoint.admin('GET', 'calls')) as Array<{ action: string; result: string }>;
      const samples = await scrape();
      const after = (await endpoint.admin('GET', 'calls')) as Array<{ action: string; result: string }>;
      if (after.length !== before.length && attempt < 5) continue;
      const counted = Object.fromEntries(
        samples.filter((sample) => sample.name === 'berth_ec2_requests_total').map((sample) => [`${sample.labels.action} ${sample.labels.outcome}`, sample.value]),
      );
      expect(counted).toEqual(tally(before.map((call) => `${call.action} ${call.result}`)));
      const throttled = before.filter((call) => call.result === 'RequestLimitExceeded');
      expect(throttled.length).toBeGreaterThan(0);
      expect(value(samples, 'berth_ec2_throttled_total')).toBe(throttled.length);
      expect(value(samples, 'berth_ec2_request_duration_seconds_count')).toBe(before.length);
      break;
    }
  });

  it('answers only GET /metrics', async () => {
    expect((await fetch(`http://${address}/`)).status).toBe(404);
    expect((await fetch(`http://${address}/metrics`, { method: 'POST' })).status).toBe(404);
  });
});
