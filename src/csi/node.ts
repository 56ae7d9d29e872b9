/** The Node service: the volume's filesystem on this instance, staged once and bound into each task. */
import { zoneTopology } from './answers';
import type { CsiHandlers } from './calls';
import { requiredCapability } from './capabilities';
import { flag, requiredText, stringMap } from './fields';

export const nodeHandlers: CsiHandlers = {
  NodeGetCapabilities: async () => ({ capabilities: [{ rpc: { type: 'STAGE_UNSTAGE_VOLUME' } }] }),

  NodeGetInfo: async ({ operations }) => {
    const { nodeId, maxVolumes, availabilityZone } = (await operations()).node();
    return { node_id: nodeId, max_volumes_per_node: maxVolumes, accessible_topology: zoneTopology(availabilityZone) };
  },

  NodeStageVolume: async ({ request, operations, signal }) => {
    const name = requiredText(request, 'volume_id');
    const stagingPath = requiredText(request, 'staging_target_path');
    requiredCapability(request, 'volume_capability');
    await (await operations()).stage(name, stringMap(request, 'publish_context'), stagingPath, signal);
    return {};
  },

  NodeUnstageVolume: async ({ request, operations }) => {
    const name = requiredText(request, 'volume_id');
    await (await operations()).unstage(name, requiredText(request, 'staging_target_path'));
    return {};
  },

  NodePublishVolume: async ({ request, operations }) => {
    const name = requiredText(request, 'volume_id');
    const targetPath = requiredText(request, 'target_path');
    const stagingPath = requiredText(request, 'staging_target_path');
    requiredCapability(request, 'volume_capability');
    await (await operations()).publish(name, stagingPath, targetPath, flag(request, 'readonly'));
    return {};
  },

  NodeUnpublishVolume: async ({ request, operations }) => {
    const name = requiredText(request, 'volume_id');
    await (await operations()).unpublish(name, requiredText(request, 'target_path'));
    return {};
  },
};
