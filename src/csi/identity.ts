/** The Identity service: who berth is and what it offers. Answered without the volume service. */
import { BERTH_VERSION } from '../version';
import type { CsiHandlers } from './calls';

/** The CSI plugin name (reverse domain notation, as the spec asks). */
export const PLUGIN_NAME = 'berth.ebs.csi';

export const identityHandlers: CsiHandlers = {
  GetPluginInfo: async () => ({ name: PLUGIN_NAME, vendor_version: BERTH_VERSION }),
  GetPluginCapabilities: async () => ({
    capabilities: [{ service: { type: 'CONTROLLER_SERVICE' } }, { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }],
  }),
  // Calls that need the volume service wait for it themselves (and answer UNAVAILABLE when it does not come).
  Probe: async () => ({ ready: { value: true } }),
};
