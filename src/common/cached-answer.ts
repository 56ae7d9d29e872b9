/** An answer that changes rarely, asked for once and shared by every caller for a while; a failed one is not kept. */
export class CachedAnswer<T> {
  private cached?: { answer: Promise<T>; until: number };

  constructor(
    private readonly ttlMs: number,
    /** Asks afresh; the signal is that of the caller who found no answer kept. */
    private readonly ask: (signal?: AbortSignal) => Promise<T>,
  ) {}

  get(signal?: AbortSignal): Promise<T> {
    const now = Date.now();
    if (this.cached && this.cached.until > now) return this.cached.answer;
    const answer = this.ask(signal).catch((err: unknown) => {
      if (this.cached?.answer === answer) this.forget();
      throw err;
    });
    this.cached = { answer, until: now + this.ttlMs };
    return answer;
  }

  forget(): void {
    this.cached = undefined;
  }
}
