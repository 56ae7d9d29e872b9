/** Describe* filters (with EC2's `*` and `?` wildcards, `tag:<key>`, `tag-key`) and NextToken pagination. */
import { Ec2Error, invalidParameterValue } from './ec2-error';
import type { Filter } from './query';

/** The values an item has for a filter name; undefined when the name is not a filter of this resource. */
export type FilterField<T> = (item: T, name: string) => string[] | undefined;

export function tagFilterValues(tags: Record<string, string>, name: string): string[] | undefined {
  if (name.startsWith('tag:')) {
    const value = tags[name.slice(4)];
    return value === undefined ? [] : [value];
  }
  if (name === 'tag-key') return Object.keys(tags);
  if (name === 'tag-value') return Object.values(tags);
  return undefined;
}

function wildcard(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern[i];
    if (char === '\\' && i + 1 < pattern.length) source += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export function isTagFilter(name: string): boolean {
  return name.startsWith('tag:') || name === 'tag-key' || name === 'tag-value';
}

/** EC2 refuses a call whose filters carry more values than this, all filters together. */
const MAX_FILTER_VALUES = 200;

/**
 * Items matching every filter (a filter matches when any of its values matches any of the item's values).
 * A filter name the resource does not have is refused, as EC2 refuses it.
 */
export function applyFilters<T>(items: T[], filters: Filter[], field: FilterField<T>, knownNames: readonly string[]): T[] {
  if (filters.reduce((sum, filter) => sum + filter.values.length, 0) > MAX_FILTER_VALUES) {
    throw new Ec2Error('FilterLimitExceeded', `The maximum number of filter values specified on a single call is ${MAX_FILTER_VALUES}`);
  }
  for (const filter of filters) {
    if (!knownNames.includes(filter.name) && !isTagFilter(filter.name)) {
      throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
    }
  }
  const matchers = filters.map((filter) => ({ name: filter.name, patterns: filter.values.map(wildcard) }));
  return items.filter((item) =>
    matchers.every(({ name, patterns }) => {
      const values = field(item, name) ?? [];
      return patterns.some((pattern) => values.some((value) => pattern.test(value)));
    }),
  );
}

/** EC2 refuses a page size below the minimum; above the cap it returns at most the cap (see paginate). */
export function checkMaxResults(value: number | undefined, min: number): void {
  if (value === undefined) return;
  if (value < min) {
    throw invalidParameterValue(`Value ( ${value} ) for parameter maxResults is invalid. Expecting a value greater than or equal to ${min}.`);
  }
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

/**
 * One page of items sorted by id. The token names the last id returned, so items created or deleted
 * between pages never make a page skip or repeat the others.
 */
export function paginate<T>(items: T[], idOf: (item: T) => string, maxResults: number | undefined, nextToken: string | undefined, pageCap: number): Page<T> {
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  let start = 0;
  if (nextToken !== undefined && nextToken !== '') {
    let after: unknown;
    try {
      after = (JSON.parse(Buffer.from(nextToken, 'base64url').toString('utf8')) as { after?: unknown }).after;
    } catch {
      after = undefined;
    }
    if (typeof after !== 'string') throw invalidParameterValue(`The token '${nextToken}' is invalid.`);
    start = sorted.findIndex((item) => idOf(item) > after);
    if (start < 0) start = sorted.length;
  }
  if (maxResults === undefined) return { items: sorted.slice(start) };
  const size = Math.min(maxResults, pageCap);
  const page = sorted.slice(start, start + size);
  const more = start + size < sorted.length;
  return {
    items: page,
    nextToken: more ? Buffer.from(JSON.stringify({ after: idOf(page[page.length - 1]) })).toString('base64url') : undefined,
  };
}
