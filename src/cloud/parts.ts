/**
 * What the parts of the EBS cloud (create.ts, attach.ts, zone-move.ts) are given: the context, the shared look-ups
 * and the pace their status waits share.
 */
import type { TransitionPace } from '../common/transition-pace';
import type { CloudContext } from './context';
import type { VolumeLookups } from './lookups';

export interface CloudParts extends CloudContext {
  lookups: VolumeLookups;
  pace: TransitionPace;
}
