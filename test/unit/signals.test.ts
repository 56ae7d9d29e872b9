/**
 * A composite signal's deadline must fire even after a garbage collection, on every Node berth runs on. On Node 20
 * AbortSignal.any() alone loses an inline AbortSignal.timeout() source to the collector: a Remove then hung until
 * the daemon stopped.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { anySignal } from '../../src/common/signals';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** As the service makes a call's bound: the deadline signal is referenced by nothing but the composite. */
function boundOf(shuttingDown: AbortSignal, ms: number): AbortSignal {
  return anySignal([shuttingDown, AbortSignal.timeout(ms)]);
}

describe('anySignal', () => {
  it('aborts at its deadline although nothing else holds the deadline signal and the collector ran', async () => {
    const shuttingDown = new AbortController();
    const bound = boundOf(shuttingDown.signal, 150);
    await settle(10); // within the turn that made it, the deadline signal is still held
    collectGarbage();
    await settle(400);
    expect(bound.aborted).toBe(true);
    expect((bound.reason as Error).name).toBe('TimeoutError');
  });

  it('aborts with the reason of whichever source aborts first', () => {
    const hangup = new AbortController();
    const signal = anySignal([hangup.signal, AbortSignal.timeout(60_000)]);
    expect(signal.aborted).toBe(false);
    hangup.abort(new Error('Docker hung up'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('Docker hung up');
  });

  it('is aborted at once when a source already is', () => {
    expect(anySignal([AbortSignal.abort(new Error('gone')), new AbortController().signal]).aborted).toBe(true);
  });
});
