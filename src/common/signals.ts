/**
 * AbortSignal.any(), made safe on Node 20: there a composite signal holds its sources only weakly, so a source that
 * nothing else references (an inline AbortSignal.timeout()) can be garbage-collected and then never fires. A
 * Remove's or a Mount's deadline vanished that way and the call hung until the daemon stopped. Node 24 keeps the
 * sources alive; berth runs on both, so every composite signal is made here.
 */
const sourcesOf = new WeakMap<AbortSignal, readonly AbortSignal[]>();

/** A signal that aborts, with its reason, as soon as any of `signals` does; the sources live as long as it does. */
export function anySignal(signals: readonly AbortSignal[]): AbortSignal {
  const composite = AbortSignal.any([...signals]);
  sourcesOf.set(composite, signals);
  return composite;
}
