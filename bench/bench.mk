# Benchmarks: included by the top-level Makefile.
#
#   make bench    every measurement of issue 5 (root, loop devices, dockerd): a table on stdout, JSON in
#                 bench/results/<time>.json, bench/results/latest.json and latest.md. About 5 minutes.
#
# Settings (environment): BENCH_RUNS=10 BENCH_DELAYED_RUNS=5 BENCH_BULK=1000 BENCH_SAMPLES=2000 BENCH_ONLY=1,2,...
# The TypeScript in bench/ runs through test/support/run-ts.cjs (esbuild transpiles each file as Node loads it).

.PHONY: bench bench-typecheck

bench: build plugin-rootfs
	node --enable-source-maps test/support/run-ts.cjs bench/main.ts

bench-typecheck:
	npx tsc -p bench/tsconfig.json
