/** What the parts of the EBS cloud (create.ts, attach.ts, zone-move.ts) are given: the context and the shared look-ups. */
import type { CloudContext } from './context';
import type { VolumeLookups } from './lookups';

export interface CloudParts extends CloudContext {
  lookups: VolumeLookups;
}
