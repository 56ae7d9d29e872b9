/** Which volume capabilities berth serves: a filesystem on a volume attached to one instance at a time. */
import { quote } from '../common/text';
import { isMessage, nested, text, type Message } from './fields';
import { invalidArgument } from './status';

/** EBS attaches a volume to one instance; on it, any number of containers may read or write. */
const SINGLE_NODE_MODES: ReadonlySet<string> = new Set([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
]);

/** Why berth cannot serve the capability, or undefined when it can. `where` names it: "volume_capabilities[1]". */
export function capabilityProblem(capability: unknown, where: string): string | undefined {
  if (!isMessage(capability)) return `${where} must be a message`;
  if (capability.block) return `${where}: berth serves filesystems, not raw block volumes`;
  if (!isMessage(capability.mount)) return `${where} names neither mount nor block`;
  const mode = isMessage(capability.access_mode) ? capability.access_mode.mode : undefined;
  if (mode === undefined || mode === null || mode === 'UNKNOWN' || mode === 0) return `${where} has no access mode`;
  const shown = typeof mode === 'string' ? mode : quote(String(mode), 40);
  if (typeof mode === 'string' && mode.startsWith('MULTI_NODE_')) {
    return `${where}: access mode ${shown} is not offered: an EBS volume attaches to one instance at a time (use --scope single)`;
  }
  if (typeof mode !== 'string' || !SINGLE_NODE_MODES.has(mode)) return `${where}: access mode ${shown} is not one berth knows`;
  return undefined;
}

/** Refuses (INVALID_ARGUMENT) a capability berth cannot serve. */
export function requireServable(capability: unknown, where: string): Message {
  const problem = capabilityProblem(capability, where);
  if (problem) throw invalidArgument(problem);
  return capability as Message;
}

/** A capability field the spec marks REQUIRED (ControllerPublish, NodeStage, NodePublish), refused unless servable. */
export function requiredCapability(request: Message, field: string): Message {
  const capability = nested(request, field);
  if (!capability) throw invalidArgument(`${field} is required`);
  return requireServable(capability, field);
}

/** The filesystem a (servable) capability asks for; '' when it leaves that to the plugin. */
export function fsTypeOf(capability: Message): string {
  const mount = nested(capability, 'mount');
  return mount ? text(mount, 'fs_type').trim() : '';
}
