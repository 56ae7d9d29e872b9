/**
 * Wrapper scripts put first in the daemon's PATH for host tools (mkfs.ext4, e2fsck, mount, umount). Each records
 * every run and its exit code; a gate armed for a tool holds its next run, once, either before the real tool
 * starts ('start') or after it finished but before the daemon sees its answer ('end'), until the test kills it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const GATED_TOOLS = ['mkfs.ext4', 'e2fsck', 'mount', 'umount'] as const;
export type GatedTool = (typeof GATED_TOOLS)[number];
export type GateMoment = 'start' | 'end';

export interface ToolRun {
  pid: number;
  args: string;
  exitCode?: number;
}

function realTool(tool: string): string {
  return execFileSync('sh', ['-c', `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v ${tool}`], { encoding: 'utf8' }).trim();
}

function wrapperScript(tool: string, real: string, dir: string): string {
  return `#!/bin/sh
# berth crash-point test wrapper for ${tool}
d='${dir}'
# Held until the test kills it; never longer than two minutes, should the test itself die.
hold() { touch "$d/${tool}.held-$1.$$"; i=0; while [ $i -lt 6000 ]; do sleep 0.02; i=$((i + 1)); done; exit 1; }
echo "$$ $*" >> "$d/${tool}.runs"
if mv "$d/${tool}.arm-start" "$d/${tool}.armed.$$" 2>/dev/null; then hold start; fi
if mv "$d/${tool}.arm-end" "$d/${tool}.armed.$$" 2>/dev/null; then
  '${real}' "$@"; rc=$?
  echo "$$ $rc" >> "$d/${tool}.exits"
  hold end
  exit $rc
fi
'${real}' "$@"; rc=$?
echo "$$ $rc" >> "$d/${tool}.exits"
exit $rc
`;
}

export class ToolGates {
  readonly binDir: string;
  private readonly stateDir: string;

  constructor(root: string) {
    this.binDir = path.join(root, 'bin');
    this.stateDir = path.join(root, 'gates');
    fs.mkdirSync(this.binDir, { recursive: true });
    fs.mkdirSync(this.stateDir, { recursive: true });
    for (const tool of GATED_TOOLS) {
      fs.writeFileSync(path.join(this.binDir, tool), wrapperScript(tool, realTool(tool), this.stateDir), { mode: 0o755 });
    }
  }

  /** The daemon's PATH: the wrappers first. */
  path(): string {
    return `${this.binDir}:${process.env.PATH ?? ''}`;
  }

  arm(tool: GatedTool, moment: GateMoment): void {
    fs.writeFileSync(path.join(this.stateDir, `${tool}.arm-${moment}`), '');
  }

  /** Pids of runs of `tool` now held at `moment`. */
  held(tool: GatedTool, moment: GateMoment): number[] {
    const prefix = `${tool}.held-${moment}.`;
    return fs
      .readdirSync(this.stateDir)
      .filter((name) => name.startsWith(prefix))
      .map((name) => Number(name.slice(prefix.length)));
  }

  anyHeld(): number[] {
    return fs
      .readdirSync(this.stateDir)
      .filter((name) => name.includes('.held-'))
      .map((name) => Number(name.slice(name.lastIndexOf('.') + 1)));
  }

  runs(tool: GatedTool): ToolRun[] {
    const exits = new Map(this.lines(`${tool}.exits`).map((line) => line.split(' ').map(Number) as [number, number]));
    return this.lines(`${tool}.runs`).map((line) => {
      const pid = Number(line.slice(0, line.indexOf(' ')));
      return { pid, args: line.slice(line.indexOf(' ') + 1), exitCode: exits.get(pid) };
    });
  }

  /**
   * What the daemon's crash does to its children. berth runs as a Docker plugin: the daemon is its container's
   * first process, and when it dies the kernel kills every process of the container's PID namespace. So a held
   * run is killed, never left to finish: a tool held at 'start' never ran, one held at 'end' did its work.
   */
  killHeld(): void {
    for (const pid of this.anyHeld()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    this.clearHolds();
  }

  /** Kills whatever is held and disarms every gate (a point that failed before its crash leaves them armed). */
  reset(): void {
    this.killHeld();
    for (const name of fs.readdirSync(this.stateDir)) {
      if (name.includes('.arm')) fs.rmSync(path.join(this.stateDir, name), { force: true });
    }
  }

  private clearHolds(): void {
    for (const name of fs.readdirSync(this.stateDir)) {
      if (name.includes('.held-')) fs.rmSync(path.join(this.stateDir, name), { force: true });
    }
  }

  private lines(file: string): string[] {
    const full = path.join(this.stateDir, file);
    return fs.existsSync(full) ? fs.readFileSync(full, 'utf8').split('\n').filter(Boolean) : [];
  }
}
