/** CreateTags, DeleteTags and the tag rules shared with TagSpecification on create calls. */
import { Ec2Error, invalidParameterValue, missingParameter, dryRunSucceeded } from '../ec2-error';
import type { TagInput, TagSpecification } from '../query';
import type { LocalEc2State } from '../state';
import type { Action } from './context';
import { findInstance, findSnapshot, findVolume } from './lookups';

const MAX_TAGS = 50;

function checkTag(tag: TagInput): void {
  if (tag.key.length < 1 || tag.key.length > 128) {
    throw invalidParameterValue(`Tag key '${tag.key}' is invalid: a tag key must be 1 to 128 characters long.`);
  }
  if (tag.key.toLowerCase().startsWith('aws:')) {
    throw invalidParameterValue(`Tag key '${tag.key}' is invalid: tag keys starting with 'aws:' are reserved for internal use.`);
  }
  if ((tag.value ?? '').length > 256) {
    throw invalidParameterValue(`Tag value for key '${tag.key}' is invalid: a tag value can be at most 256 characters long.`);
  }
}

function tagMap(tags: TagInput[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const tag of tags) {
    checkTag(tag);
    if (tag.key in map) throw invalidParameterValue(`Duplicate tag key '${tag.key}' specified.`);
    map[tag.key] = tag.value ?? '';
  }
  return map;
}

/** Tags for a new resource of `resourceType` from the call's TagSpecification.N entries. */
export function tagsFromSpecifications(specifications: TagSpecification[], resourceType: string): Record<string, string> {
  const tags: TagInput[] = [];
  for (const specification of specifications) {
    if (specification.resourceType !== resourceType) {
      throw invalidParameterValue(`'${specification.resourceType}' is not a valid taggable resource type for this operation.`);
    }
    tags.push(...specification.tags);
  }
  const map = tagMap(tags);
  if (Object.keys(map).length > MAX_TAGS) {
    throw new Ec2Error('TagLimitExceeded', `The maximum number of tags (${MAX_TAGS}) for a resource has been exceeded.`);
  }
  return map;
}

function taggable(state: LocalEc2State, region: string, id: string): { tags: Record<string, string> } {
  if (id.startsWith('vol-')) return findVolume(state, region, id);
  if (id.startsWith('snap-')) return findSnapshot(state, region, id);
  if (id.startsWith('i-')) return findInstance(state, region, id);
  throw new Ec2Error('InvalidID', `The ID '${id}' is not valid`);
}

export const createTags: Action = {
  params: ['ResourceId', 'Tag'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('ResourceId');
    if (ids.length === 0) throw missingParameter('ResourceId');
    const tags = params.tags('Tag');
    if (tags.length === 0) throw missingParameter('Tag');
    const additions = tagMap(tags);
    const resources = ids.map((id) => ({ id, resource: taggable(ctx.state, region, id) }));
    for (const { id, resource } of resources) {
      if (Object.keys({ ...resource.tags, ...additions }).length > MAX_TAGS) {
        throw new Ec2Error('TagLimitExceeded', `The maximum number of tags (${MAX_TAGS}) has been reached for resource '${id}'.`);
      }
    }
    if (dryRun) throw dryRunSucceeded();
    for (const { resource } of resources) Object.assign(resource.tags, additions);
    ctx.commit();
    return { return: true };
  },
};

export const deleteTags: Action = {
  params: ['ResourceId', 'Tag'],
  async handle(ctx, { params, region, dryRun }) {
    const ids = params.list('ResourceId');
    if (ids.length === 0) throw missingParameter('ResourceId');
    const tags = params.tags('Tag');
    const resources = ids.map((id) => taggable(ctx.state, region, id));
    if (dryRun) throw dryRunSucceeded();
    for (const resource of resources) {
      if (tags.length === 0) {
        for (const key of Object.keys(resource.tags)) delete resource.tags[key];
        continue;
      }
      for (const tag of tags) {
        if (tag.value === undefined || resource.tags[tag.key] === tag.value) delete resource.tags[tag.key];
      }
    }
    ctx.commit();
    return { return: true };
  },
};
