/** Loop devices bound to files under a directory (the endpoint's volumes), from sysfs. */
import fs from 'node:fs';
import path from 'node:path';

export async function listLoopDevicesUnder(dir: string): Promise<string[]> {
  const prefix = `${path.resolve(dir)}/`;
  const found: string[] = [];
  for (const name of fs.readdirSync('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    try {
      const backing = fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(prefix)) found.push(`/dev/${name} (${backing})`);
    } catch {
      // unbound
    }
  }
  return found;
}
