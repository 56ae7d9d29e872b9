#!/usr/bin/env node
/**
 * `make demo-clean`: removes everything `make demo` made (see demo/clean.ts). Like demo.mjs, it installs the npm
 * packages its TypeScript runs on first (normally they are there already).
 */
import { npmPackagesStep, runTypeScript } from './bootstrap.mjs';

await runTypeScript('demo/clean.ts', { npm: await npmPackagesStep() });
