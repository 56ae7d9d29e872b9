import { BackgroundRetries } from '../../src/volumes/background-retries';
import { silentLogger } from '../../src/log';

describe('background retries', () => {
  it('stop() resolves only once a retry under way has ended and its outcome is written', async () => {
    const writes: Array<Record<string, string>> = [];
    let started!: () => void;
    const attemptStarted = new Promise<void>((resolve) => (started = resolve));
    let finishAttempt!: () => void;
    const retries = new BackgroundRetries<string>(
      { read: () => ({ 'vol-1': 'db' }), write: async (entries) => void writes.push({ ...entries }) },
      {
        what: 'detach',
        volumeOf: (_key, name) => name,
        attempt: () => {
          started();
          return new Promise<void>((resolve) => (finishAttempt = resolve));
        },
      },
      silentLogger(),
      (_name, work) => work(),
    );
    await attemptStarted;
    let stopped = false;
    const stopping = retries.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    finishAttempt();
    await stopping;
    expect(writes[writes.length - 1]).toEqual({});
  });
});
