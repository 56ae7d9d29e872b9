/** The volume of a name as EC2 has it now, found the cheapest way, and what berth's catalog learns from the answer. */
import type { Cloud, CloudVolume, LookupOptions } from '../cloud/types';
import type { Catalog } from './catalog';

/** By the id the catalog knows, else by name (the id may be another volume's by now, or gone). */
export async function currentVolume(
  name: string,
  { cloud, catalog }: { cloud: Cloud; catalog: Catalog },
  signal?: AbortSignal,
  options: LookupOptions = {},
): Promise<CloudVolume | undefined> {
  const known = catalog.known(name);
  let volume = known ? await cloud.describe(known.volumeId, signal, options) : undefined;
  if (!volume || volume.name !== name || volume.state === 'deleting' || volume.state === 'deleted') volume = await cloud.findByName(name, signal, options);
  if (volume) await catalog.remember(volume);
  else await catalog.forget(name);
  return volume;
}
