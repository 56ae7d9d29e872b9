/** A cluster volume another node holds: Swarm's manager makes one volume call at a time, so a publish never waits long. */
import { silentLogger } from '../../src/log';
import { ClusterTakeovers } from '../../src/volumes/cluster-takeover';
import { FakeCloud, FakeHost, serviceConfig, volumeFixture } from '../support/fakes';
import type { AdministrationDeps } from '../../src/volumes/administration-deps';

const NODE = 'i-0a0de000000000001';
const HOLDER = 'i-0a0de000000000002';

describe('cluster take-overs', () => {
  let clock = 0;
  const cloud = new FakeCloud();
  const deps = (preempt: boolean, releaseWaitMs: number) =>
    ({ cloud, host: new FakeHost(), logger: silentLogger(), config: serviceConfig('/nonexistent', { preempt, releaseWaitMs }) }) as unknown as AdministrationDeps;
  const held = () => cloud.add(volumeFixture('db', { state: 'in-use', attachments: [{ instanceId: HOLDER, device: '/dev/xvdf', state: 'attached' }] }));
  const never = new AbortController().signal;

  it('refuses at once without preemption, naming the holder (Swarm retries the publish)', async () => {
    const takeovers = new ClusterTakeovers(() => clock);
    await expect(takeovers.freeFor(held(), NODE, never, deps(false, 10_000))).rejects.toMatchObject({ code: 'attached-elsewhere', message: expect.stringContaining(HOLDER) });
    expect(cloud.count('detach')).toBe(0);
  });

  it('with preemption refuses until the holder had EBS_RELEASEWAIT to let go, then takes it over', async () => {
    const takeovers = new ClusterTakeovers(() => clock);
    const volume = held();
    clock = 0;
    await expect(takeovers.freeFor(volume, NODE, never, deps(true, 10_000))).rejects.toMatchObject({ message: expect.stringMatching(/within 10 s, it is taken over/) });
    clock = 5_000;
    await expect(takeovers.freeFor(volume, NODE, never, deps(true, 10_000))).rejects.toMatchObject({ message: expect.stringMatching(/within 5 s/) });
    expect(cloud.count('detach')).toBe(0);
    clock = 10_000;
    await takeovers.freeFor(volume, NODE, never, deps(true, 10_000));
    expect(cloud.calls).toContain(`detach ${volume.volumeId} ${HOLDER} force`);
  });
});
