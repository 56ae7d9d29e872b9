/** Cgroups a run made (named by it, in every hierarchy): removing them once no process is left in them. */
import fs from 'node:fs';
import path from 'node:path';
import { mountTable } from './mounts';

/** Mount points of the cgroup hierarchies (v1 controllers and/or the v2 tree). */
export function cgroupHierarchies(): string[] {
  return mountTable()
    .filter(({ type }) => type === 'cgroup' || type === 'cgroup2')
    .map(({ point }) => point);
}

/** Removes a cgroup directory and its children, deepest first (rmdir: only cgroups no task is left in go). */
function removeTree(dir: string): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return true; // not there
  }
  for (const entry of entries) if (entry.isDirectory()) removeTree(path.join(dir, entry.name));
  try {
    fs.rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Removes the cgroup `name` (a path below the hierarchy root) from every hierarchy; returns those still in use. */
export function removeCgroup(name: string): string[] {
  return cgroupHierarchies()
    .map((hierarchy) => path.join(hierarchy, name))
    .filter((dir) => !removeTree(dir));
}

/** The cgroup `name` where it still exists. */
export function cgroupsLeft(name: string): string[] {
  return cgroupHierarchies()
    .map((hierarchy) => path.join(hierarchy, name))
    .filter((dir) => fs.existsSync(dir));
}
