/**
 * Plumbing for the demo: running commands (bounded, no shell), background processes with pid files, the
 * transcript printer, and the host bookkeeping (mounts, cgroups) that `make demo-clean` needs.
 * Nothing here knows about berth; demo/environment.mjs and demo/demo.mjs tell the story.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export class DemoError extends Error {
  /** @param {string} message @param {string} [details] what the failed command printed, a log tail */
  constructor(message, details = '') {
    super(message);
    this.details = details;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a command with an argument array and a time limit; never rejects for a non-zero exit.
 * @returns {Promise<{code: number | null, stdout: string, stderr: string, timedOut: boolean}>}
 */
export function run(command, args, { timeoutMs = 60_000, env = process.env, cwd, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new DemoError(`${command}: cannot start: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Like run(), but throws a DemoError with the command's output unless it exits 0; returns stdout. */
export async function mustRun(command, args, options = {}) {
  const out = await run(command, args, options);
  if (out.code !== 0) {
    const status = out.timedOut ? `did not finish within ${(options.timeoutMs ?? 60_000) / 1000} s` : `exited ${out.code}`;
    throw new DemoError(`${commandLine([command, ...args])}: ${status}`, `${out.stderr}${out.stdout}`.trim());
  }
  return out.stdout;
}

/** A command as a user would type it (single quotes where the shell needs them). */
export function commandLine(words) {
  return words.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Polls check() until it returns something truthy; throws after timeoutMs. */
export async function waitFor(what, check, { timeoutMs = 60_000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new DemoError(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(intervalMs);
  }
}

export function findExecutable(command) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return path.join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

export function tail(file, lines = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Background processes

/**
 * Starts a long-running process that outlives this script: its own session (Ctrl-C on `make demo` does not reach
 * it), stdin closed, stdout and stderr appended to files. Returns its pid.
 */
export function startInBackground(command, args, { stdoutFile, stderrFile = stdoutFile, env = process.env }) {
  const out = fs.openSync(stdoutFile, 'a');
  const err = stderrFile === stdoutFile ? out : fs.openSync(stderrFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, err], env });
    child.on('error', () => undefined); // reported by the caller's readiness check
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(out);
    if (err !== out) fs.closeSync(err);
  }
}

/** The command line of a live process, or undefined. */
function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/**
 * The pid in pidFile when that process is alive and its command line contains `mention` (a pid file can outlive
 * its process, and the pid can be reused by an unrelated one); else undefined.
 */
export function livePid(pidFile, mention) {
  let pid;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const cmdline = cmdlineOf(pid);
  if (cmdline === undefined || !cmdline.includes(mention)) return undefined;
  // A zombie has an empty command line, so it never gets here.
  return pid;
}

/** True while the process exists and is not a zombie. */
export function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL and wait again. Resolves true when the process is gone. */
export async function stopProcess(pid, graceMs = 30_000) {
  if (!alive(pid)) return true;
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(`process ${pid} to exit`, () => !alive(pid), { timeoutMs: graceMs });
    return true;
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    return waitFor(`process ${pid} to exit after SIGKILL`, () => !alive(pid), { timeoutMs: 10_000 }).then(() => true, () => false);
  }
}

/** Pids of processes whose command line contains needle (e.g. containerd shims naming our exec root). */
export function processesMentioning(needle) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if (cmdlineOf(Number(entry))?.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

/** Linux capabilities by number (include/uapi/linux/capability.h). */
const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
].map((name) => `CAP_${name}`);

/** Those of the named capabilities (CAP_SYS_ADMIN...) missing from this process's bounding set. */
export function missingCapabilities(names) {
  const match = /^CapBnd:\s+([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!match) return [];
  const bounding = BigInt(`0x${match[1]}`);
  return names.filter((name) => {
    const bit = CAPABILITIES.indexOf(name.toUpperCase());
    return bit >= 0 && ((bounding >> BigInt(bit)) & 1n) === 0n;
  });
}

/** Every descendant of the given pids (found through the parent pid in /proc/<pid>/stat). */
export function descendantsOf(roots) {
  const parentOf = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found = new Set();
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!found.has(pid) && (roots.includes(parent) || found.has(parent))) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP on loopback and unix sockets

/** GET on a unix socket (the Docker API's /_ping); true on HTTP 200. */
export function pingUnixSocket(socketPath, urlPath = '/_ping') {
  return new Promise((resolve) => {
    const request = http.get({ socketPath, path: urlPath, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/** GET url and parse JSON; undefined when it does not answer 200 within timeoutMs. */
export async function getJson(url, timeoutMs = 3000) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Host bookkeeping: mounts and cgroups

function decodeMountPath(text) {
  return text.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
}

function mountinfo() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [before, after = ''] = line.split(' - ');
    const fields = before.split(' ');
    return { point: decodeMountPath(fields[4]), type: after.split(' ')[0], source: decodeMountPath(after.split(' ')[1] ?? '') };
  });
}

/** Mount points at or under any of the prefixes, deepest first. */
export function mountsUnder(prefixes) {
  const points = mountinfo()
    .map(({ point }) => point)
    .filter((point) => prefixes.some((prefix) => point === prefix || point.startsWith(`${prefix}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Mount points whose source is one of the given devices (e.g. loop devices of the demo's volumes). */
export function mountsOf(devices) {
  return [...new Set(mountinfo().filter(({ source }) => devices.includes(source)).map(({ point }) => point))];
}

/** Unmounts every mount at or under the prefixes (lazily if busy); throws if any remains. */
export async function unmountAllUnder(prefixes) {
  for (const point of mountsUnder(prefixes)) {
    const out = await run('umount', [point], { timeoutMs: 30_000 });
    if (out.code !== 0) await run('umount', ['-l', point], { timeoutMs: 30_000 });
  }
  const left = mountsUnder(prefixes);
  if (left.length > 0) throw new DemoError(`still mounted, not removing: ${left.join(', ')}`);
}

/**
 * Removes directories, never crossing into another filesystem: a mount left inside (a volume, a bind of the host's
 * /dev in a plugin rootfs) must stop the removal, not be emptied by it.
 */
export async function removeTree(...dirs) {
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    const mounted = mountsUnder([dir]);
    if (mounted.length > 0) throw new DemoError(`${dir}: still mounted inside, not removing: ${mounted.join(', ')}`);
    await mustRun('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 300_000 });
  }
}

/** Mount points of the cgroup hierarchies (v1 controllers and/or the v2 tree). */
function cgroupHierarchies() {
  return mountinfo().filter(({ type }) => type === 'cgroup' || type === 'cgroup2').map(({ point }) => point);
}

function removeCgroupDir(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.isDirectory()) removeCgroupDir(path.join(dir, entry.name));
  try {
    fs.rmdirSync(dir); // a cgroup is removed with rmdir, and only when no task is left in it
  } catch {
    // still in use or already gone
  }
}

/** Removes the cgroup named `name` (and its empty children) from every hierarchy. */
export function removeCgroup(name) {
  for (const hierarchy of cgroupHierarchies()) removeCgroupDir(path.join(hierarchy, name));
}

/** Cgroups named `name` that still exist in some hierarchy. */
export function cgroupsLeft(name) {
  return cgroupHierarchies().map((hierarchy) => path.join(hierarchy, name)).filter((dir) => fs.existsSync(dir));
}

// ---------------------------------------------------------------------------------------------------------------
// The transcript

const MAX_LINES = 14;
const MAX_WIDTH = 150;
const INDENT = '     ';

/** Wraps a long command over several lines with shell continuations, so it can still be pasted. */
function wrapCommand(text) {
  const words = text.split(' ');
  const lines = [];
  let line = '$';
  for (const word of words) {
    if (line.length + word.length + 1 > MAX_WIDTH - INDENT.length && line !== '$') {
      lines.push(`${line} \\`);
      line = '   ';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

function trimOutput(text, maxLines = MAX_LINES) {
  const lines = text.replace(/\s+$/, '').split('\n').filter((line, i, all) => line.trim() || (i > 0 && i < all.length - 1));
  const shown = lines.slice(0, maxLines).map((line) => (line.length > MAX_WIDTH ? `${line.slice(0, MAX_WIDTH - 1)}…` : line));
  if (lines.length > maxLines) shown.push(`… (${lines.length - maxLines} more lines)`);
  return shown;
}

/**
 * Prints numbered steps: the title, the commands a user would type, what they printed (trimmed) and how long the
 * step took. `step(title, body)`: body receives a `show(commandWords | string)` to print a command as it starts,
 * and returns the text to print as its output (or `{ text, maxLines }` to show more than the usual few lines).
 */
export class Transcript {
  constructor(write = (text) => process.stdout.write(text)) {
    this.write = write;
    this.steps = [];
    this.started = Date.now();
  }

  heading(text) {
    this.write(`\n${text}\n`);
  }

  line(text = '') {
    this.write(`${text}\n`);
  }

  async step(title, body) {
    const number = this.steps.length + 1;
    this.write(`\n${String(number).padStart(2)}. ${title}\n`);
    const started = Date.now();
    const show = (command) => {
      const text = Array.isArray(command) ? commandLine(command) : command;
      for (const line of wrapCommand(text)) this.write(`${INDENT}${line}\n`);
    };
    const record = { title, seconds: 0 };
    this.steps.push(record);
    try {
      const output = await body(show);
      record.seconds = (Date.now() - started) / 1000;
      const { text, maxLines } = typeof output === 'object' && output !== null ? output : { text: output };
      if (text) for (const line of trimOutput(text, maxLines)) this.write(`${INDENT}${line}\n`);
      this.write(`${INDENT}(${record.seconds.toFixed(1)} s)\n`);
      return output;
    } catch (err) {
      record.seconds = (Date.now() - started) / 1000;
      record.failed = true;
      throw err;
    }
  }

  /** Total seconds since the transcript began. */
  elapsed() {
    return (Date.now() - this.started) / 1000;
  }

  summary() {
    const width = Math.max(...this.steps.map((s) => s.title.length));
    this.heading('Timings');
    for (const [i, s] of this.steps.entries()) {
      this.line(`${String(i + 1).padStart(4)}. ${s.title.padEnd(width)}  ${s.seconds.toFixed(1).padStart(6)} s${s.failed ? '  FAILED' : ''}`);
    }
    this.line(`      ${'total'.padEnd(width)}  ${this.elapsed().toFixed(1).padStart(6)} s`);
  }
}
