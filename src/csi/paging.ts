/** ListVolumes' pages: the token is the offset of the page's first entry, as decimal text. */
import { CsiRefusal, invalidArgument, status } from './status';

export interface Page<T> {
  items: T[];
  /** '' on the last page. */
  nextToken: string;
}

export function page<T>(all: readonly T[], maxEntries: number, startingToken: string): Page<T> {
  if (maxEntries < 0) throw invalidArgument('max_entries must not be negative');
  const start = startingToken === '' ? 0 : Number(startingToken);
  // ABORTED is what the spec answers for a token it cannot use (the list may have shrunk since it was made).
  if (!/^\d{1,15}$/.test(startingToken || '0') || start > all.length) {
    throw new CsiRefusal(status.ABORTED, `starting_token ${JSON.stringify(startingToken.slice(0, 40))} is not a token of this list: list again from the start`);
  }
  const end = maxEntries === 0 ? all.length : Math.min(all.length, start + maxEntries);
  return { items: all.slice(start, end), nextToken: end < all.length ? String(end) : '' };
}
