/** The Controller service: volumes, and which instance each is attached to. */
import { BerthError } from '../common/errors';
import { quote } from '../common/text';
import { csiVolume } from './answers';
import type { CsiHandlers } from './calls';
import { capabilityProblem, requiredCapability } from './capabilities';
import { createCall, fitsBounds } from './create-request';
import { flag, list, requiredText, text, whole } from './fields';
import { page } from './paging';
import { CsiRefusal, invalidArgument, status } from './status';

const CONTROLLER_CAPABILITIES = ['CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES'];

export const controllerHandlers: CsiHandlers = {
  ControllerGetCapabilities: async () => ({ capabilities: CONTROLLER_CAPABILITIES.map((type) => ({ rpc: { type } })) }),

  CreateVolume: async ({ request, operations }) => {
    const { name, options, bounds, contentSource } = createCall(request);
    const volume = await (await operations()).createVolume(name, options);
    if (bounds && !fitsBounds(volume.sizeGiB, bounds)) {
      throw new CsiRefusal(status.ALREADY_EXISTS, `volume ${quote(name)} exists with ${volume.sizeGiB} GiB, outside the capacity_range asked for`);
    }
    return { volume: csiVolume(volume, contentSource) };
  },

  DeleteVolume: async ({ request, operations }) => {
    await (await operations()).deleteVolume(requiredText(request, 'volume_id'));
    return {};
  },

  ControllerPublishVolume: async ({ request, operations, signal }) => {
    const name = requiredText(request, 'volume_id');
    const nodeId = requiredText(request, 'node_id');
    requiredCapability(request, 'volume_capability');
    // Read-only is the node's business (NodePublishVolume binds read-only); EBS attaches either way.
    flag(request, 'readonly');
    return { publish_context: await (await operations()).publishToNode(name, nodeId, signal) };
  },

  ControllerUnpublishVolume: async ({ request, operations, signal }) => {
    const name = requiredText(request, 'volume_id');
    const nodeId = text(request, 'node_id');
    const ops = await operations();
    if (nodeId) {
      await ops.unpublishFromNode(name, nodeId, signal);
      return {};
    }
    // No node: from every instance it is attached to. A volume that is gone is attached nowhere.
    const volume = await ops.describeVolume(name);
    for (const holder of volume?.attachedTo ?? []) await ops.unpublishFromNode(name, holder, signal);
    return {};
  },

  ValidateVolumeCapabilities: async ({ request, operations }) => {
    const name = requiredText(request, 'volume_id');
    const capabilities = list(request, 'volume_capabilities');
    if (capabilities.length === 0) throw invalidArgument('volume_capabilities is required');
    if (!(await (await operations()).describeVolume(name))) throw new BerthError('not-found', `volume ${quote(name)} not found`);
    const problems = capabilities.map((capability, index) => capabilityProblem(capability, `volume_capabilities[${index}]`)).filter(Boolean);
    // Only the capabilities are confirmed: the parameters are checked when a volume is created, not here.
    return problems.length > 0 ? { message: problems.join('; ') } : { confirmed: { volume_capabilities: capabilities } };
  },

  ListVolumes: async ({ request, operations }) => {
    const maxEntries = whole(request, 'max_entries');
    const startingToken = text(request, 'starting_token');
    // By name, so that the offsets of one listing still mean the same entries in the next.
    const volumes = [...(await (await operations()).listVolumes())].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, nextToken } = page(volumes, maxEntries, startingToken);
    return {
      entries: items.map((volume) => ({ volume: csiVolume(volume), status: { published_node_ids: volume.attachedTo } })),
      next_token: nextToken,
    };
  },
};
