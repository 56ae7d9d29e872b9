/** Loop devices bound to files under a directory (a local EC2 endpoint's volumes), read from sysfs. */
import fs from 'node:fs';
import path from 'node:path';

export interface LoopDevice {
  /** e.g. /dev/loop3 */
  device: string;
  backingFile: string;
}

export function loopDevicesUnder(dir: string): LoopDevice[] {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : path.resolve(dir);
  const found: LoopDevice[] = [];
  for (const name of fs.readdirSync('/sys/block')) {
    if (!/^loop\d+$/.test(name)) continue;
    try {
      const backingFile = fs.readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
      if (backingFile.startsWith(`${real}/`)) found.push({ device: `/dev/${name}`, backingFile });
    } catch {
      // unbound
    }
  }
  return found;
}
