/** Which berth this is, and the Node.js it needs (package.json's `engines`, checked at start). */
// Read at run time (package.json is outside rootDir); the plugin's bundle inlines it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const BERTH_VERSION: string = (require('../package.json') as { version: string }).version;

/** The oldest Node.js major berth and its pinned AWS SDK run on; the plugin and build/legacy ship Node 24. */
export const MINIMUM_NODE_MAJOR = 20;

/** Why this Node.js cannot run berth, or undefined when it can. */
export function unsupportedNode(nodeVersion: string = process.versions.node): string | undefined {
  const major = Number(nodeVersion.split('.')[0]);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return `berth needs Node.js ${MINIMUM_NODE_MAJOR} or later, this is ${nodeVersion}: use the Node.js that build/legacy ships (make legacy), or the managed plugin`;
}

/** "berth 0.2.0 (Node.js 24.21.0)" */
export function versionLine(): string {
  return `berth ${BERTH_VERSION} (Node.js ${process.versions.node})`;
}
