/**
 * Volumes kept mounted and attached for a moment after their last Unmount. Docker mounts a volume, copies the
 * image's content into it and unmounts it while creating a container, then mounts it again to start it: without
 * a linger every `docker run` paid a detach and a second attach in between.
 */
/** A mount shorter than this is taken for Docker's create-time Mount/Unmount pair. */
export const SHORT_MOUNT_MS = 1_000;

export class Lingering {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly delayMs: number,
    /** Called when a linger ends; the callee takes the volume's lock and releases it if still unused. */
    private readonly onExpiry: (name: string) => void,
  ) {}

  /**
   * Lingers only after a short mount (Docker's copy of the image's content lasts milliseconds): a volume that served
   * a container for a while is released at once, so a drained task's volume moves without waiting for the delay.
   */
  shouldLinger(mountedSinceMs: number | undefined, now = Date.now()): boolean {
    return this.delayMs > 0 && mountedSinceMs !== undefined && now - mountedSinceMs < Math.min(this.delayMs, SHORT_MOUNT_MS);
  }

  start(name: string): void {
    this.cancel(name);
    const timer = setTimeout(() => {
      this.timers.delete(name);
      this.onExpiry(name);
    }, this.delayMs);
    timer.unref();
    this.timers.set(name, timer);
  }

  /** Returns whether the volume was lingering. */
  cancel(name: string): boolean {
    const timer = this.timers.get(name);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(name);
    return true;
  }

  names(): string[] {
    return [...this.timers.keys()];
  }
}
