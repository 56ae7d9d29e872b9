/**
 * The request log served at GET /_berth/calls: one entry per EC2 call once answered, oldest first, bounded in size;
 * and the calls under way (arrived, not answered yet) at GET /_berth/inflight.
 */
export interface CallEntry {
  seq: number;
  action: string;
  volumeId?: string;
  instanceId?: string;
  /** 'ok' or the EC2 error code answered. */
  result: string;
  /** When the call arrived (ISO 8601). */
  time: string;
  durationMs: number;
}

export type InflightCall = Pick<CallEntry, 'action' | 'volumeId' | 'instanceId' | 'time'>;

const MAX_ENTRIES = 20_000;

export class CallLog {
  private entries: CallEntry[] = [];
  private nextSeq = 1;
  private readonly underWay = new Set<InflightCall>();

  /** A call has arrived; the returned function marks it answered. */
  arrived(call: InflightCall): () => void {
    this.underWay.add(call);
    return () => this.underWay.delete(call);
  }

  inflight(): InflightCall[] {
    return [...this.underWay];
  }

  add(entry: Omit<CallEntry, 'seq'>): CallEntry {
    const recorded = { seq: this.nextSeq++, ...entry };
    this.entries.push(recorded);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    return recorded;
  }

  /** Entries with seq greater than `since` (all when undefined). */
  list(since = 0): CallEntry[] {
    return this.entries.filter((entry) => entry.seq > since);
  }

  /** Forgets the entries; sequence numbers keep growing so `since` stays meaningful across resets. */
  clear(): void {
    this.entries = [];
  }
}
