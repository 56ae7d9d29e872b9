#!/usr/bin/env node
/**
 * `make demo`: berth from a fresh checkout to a container whose data outlives it (see demo/main.ts for the story).
 * The demo is TypeScript sharing the tests' toolkit; this entry installs the npm packages it runs on first.
 */
import { npmPackagesStep, runTypeScript } from './bootstrap.mjs';

await runTypeScript('demo/main.ts', { npm: await npmPackagesStep() });
