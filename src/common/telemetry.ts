/** What berth's parts report while they work, for whoever counts it (the metrics door); by default nobody. */
export interface Telemetry {
  /** One HTTP request to EC2 (every attempt of a call): its action, `ok` or EC2's error code, how long it took. */
  ec2Request(action: string, outcome: string, seconds: number): void;
  /** One call from Docker: its method (`Mount`), `ok` or `error`, how long it took. */
  dockerCall(method: string, outcome: 'ok' | 'error', seconds: number): void;
  /** One step of a volume's life (`attach`, `format`, `mount`…): `ok` or `error`, how long it took. */
  volumeStep(step: string, outcome: 'ok' | 'error', seconds: number): void;
  /** A look-up answered from berth's cache (`hit`) or from EC2 (`miss`): `volume` for one name, `list` for List. */
  cacheLookup(cache: 'volume' | 'list', outcome: 'hit' | 'miss'): void;
}

export const NO_TELEMETRY: Telemetry = {
  ec2Request: () => undefined,
  dockerCall: () => undefined,
  volumeStep: () => undefined,
  cacheLookup: () => undefined,
};

/**
 * `target` with the named async methods timed as volume steps (method -> step name): the composition root wraps the
 * cloud and the host with it, so the service reports its steps without knowing anyone counts them.
 */
export function timedSteps<T extends object>(target: T, steps: Partial<Record<keyof T, string>>, telemetry: Telemetry): T {
  if (telemetry === NO_TELEMETRY) return target;
  return new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver);
      const step = steps[key as keyof T];
      if (!step || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const result = await value.apply(object, args);
          telemetry.volumeStep(step, 'ok', seconds());
          return result;
        } catch (err) {
          telemetry.volumeStep(step, 'error', seconds());
          throw err;
        }
      };
    },
  });
}
