/**
 * What the demo's entry points do in plain JavaScript, before any of its TypeScript can run: install the npm
 * packages (esbuild among them) when package-lock.json is newer than the last install, timed, and hand over to a
 * TypeScript module through test/support/run-ts.cjs. The TypeScript shows that install as a step of its transcript.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Makefile's `deps` rule: npm ci when package-lock.json is newer than what the last npm ci installed. */
function npmPackagesCurrent() {
  const installed = path.join(REPO, 'node_modules/.package-lock.json');
  return fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(path.join(REPO, 'package-lock.json')).mtimeMs;
}

function npmCi() {
  return new Promise((resolve) => {
    const child = spawn('npm', ['ci', '--no-audit', '--no-fund'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.on('error', (err) => resolve({ code: -1, output: `npm: cannot start: ${err.message}` }));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * The npm packages step, run now: `{ title, command, text, seconds, failed, startedAt }` for the transcript.
 * Only an actual install prints a line at once (it may take a minute on a fresh checkout).
 */
export async function npmPackagesStep() {
  const startedAt = Date.now();
  const step = { title: 'Install the npm packages', command: ['npm', 'ci'], startedAt };
  if (npmPackagesCurrent()) return { ...step, text: 'up to date (node_modules matches package-lock.json)', seconds: (Date.now() - startedAt) / 1000 };
  const modules = path.join(REPO, 'node_modules');
  if (fs.existsSync(modules) && fs.lstatSync(modules).isSymbolicLink()) {
    // npm ci empties node_modules through the link: another checkout's packages would vanish under it.
    const text = `not reinstalled: node_modules is a link to another checkout's (${fs.readlinkSync(modules)}), used as it is`;
    return { ...step, text, seconds: (Date.now() - startedAt) / 1000 };
  }
  process.stdout.write('Installing the npm packages the demo runs on (npm ci)...\n');
  const { code, output } = await npmCi();
  const seconds = (Date.now() - startedAt) / 1000;
  if (code !== 0) return { ...step, text: output.trim().split('\n').slice(-25).join('\n'), seconds, failed: true };
  return { ...step, text: 'installed', seconds };
}

/** Loads a TypeScript module of the demo (path from the repository root) and calls its main(handover). */
export function runTypeScript(file, handover) {
  if (handover.npm.failed) {
    process.stdout.write(`\nnpm ci failed (${handover.npm.seconds.toFixed(1)} s):\n${handover.npm.text}\nRun it again once the cause is fixed.\n`);
    process.exitCode = 1;
    return undefined;
  }
  const require = createRequire(import.meta.url);
  require(path.join(REPO, 'test/support/run-ts.cjs'));
  return require(path.join(REPO, file)).main(handover);
}
