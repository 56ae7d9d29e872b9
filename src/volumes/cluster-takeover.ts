/**
 * A cluster volume another instance holds, on the controller side. Swarm's CSI manager makes one volume call at a
 * time and releases the old node (ControllerUnpublishVolume, where berth detaches it) only between calls, then
 * writes back the publish states it read before the call: a publish that waited for that release would wait for
 * itself, and Swarm would lose the old node's unpublish meanwhile (seen in the swarm suite: a drain took 20 s, with
 * EBS_PREEMPT=true a forced detach). So such a publish is refused at once and Swarm retries; with preemption the
 * volume is taken over once its publishes have been refused for EBS_RELEASEWAIT, as long as a Mount would wait.
 */
import { attachedElsewhereError, heldElsewhere } from '../cloud/attachments';
import type { CloudVolume } from '../cloud/types';
import type { AdministrationDeps } from './administration-deps';
import { takeOver } from './mount-steps';

/** The end of the wait may be spent within one call: so short a wait costs Swarm little and spares it a retry. */
const LONGEST_WAIT_IN_CALL_MS = 1_000;

export class ClusterTakeovers {
  /** When each volume's publishes were first refused, and for which holder. */
  private readonly refused = new Map<string, { holder: string; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The volume free for `nodeId` (held by nobody else, or taken over); else throws naming the holder. */
  async freeFor(volume: CloudVolume, nodeId: string, signal: AbortSignal, deps: AdministrationDeps): Promise<CloudVolume> {
    const holder = heldElsewhere(volume, nodeId);
    if (!holder) {
      this.refused.delete(volume.name);
      return volume;
    }
    const { preempt, releaseWaitMs } = deps.config;
    if (!preempt) throw attachedElsewhereError(volume, holder, 'stop its user there, or enable preemption (EBS_PREEMPT=true) to take it over');
    let first = this.refused.get(volume.name);
    if (first?.holder !== holder.instanceId) {
      first = { holder: holder.instanceId, since: this.now() };
      this.refused.set(volume.name, first);
    }
    const leftMs = releaseWaitMs - (this.now() - first.since);
    if (leftMs > LONGEST_WAIT_IN_CALL_MS) {
      throw attachedElsewhereError(volume, holder, `unless it is released there within ${Math.ceil(leftMs / 1000)} s, it is taken over (EBS_PREEMPT=true)`);
    }
    const free = await takeOver(volume, nodeId, signal, { ...deps, config: { ...deps.config, releaseWaitMs: Math.max(0, leftMs) } });
    this.refused.delete(volume.name);
    return free;
  }
}
