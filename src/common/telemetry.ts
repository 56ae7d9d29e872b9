/** What berth's parts report while they work, for whoever counts it (the metrics door); by default nobody. */
export interface Telemetry {
  /** One HTTP request to EC2 (every attempt of a call): its action, `ok` or EC2's error code, how long it took. */
  ec2Request(action: string, outcome: string, seconds: number): void;
  /** One call from Docker: its method (`Mount`), `ok` or `error`, how long it took. */
  dockerCall(method: string, outcome: 'ok' | 'error', seconds: number): void;
}

export const NO_TELEMETRY: Telemetry = {
  ec2Request: () => undefined,
  dockerCall: () => undefined,
};
