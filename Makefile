# berth: `make demo` runs the main job, `make test` runs every test (what CI runs).
SHELL := /bin/bash
NPM ?= npm
JEST := npx jest

.PHONY: all build deps test test-unit test-host test-integration e2e swarm-test bench demo demo-clean clean lint

all: build

deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json
	$(NPM) ci --no-audit --no-fund

build: deps
	$(NPM) run build

# Unit tests need nothing; host and integration tests need root and loop devices (they fail in CI without them).
# test/integration/hostile-input.test.ts fuzzes the daemon with 2000 seeded hostile requests; BERTH_FUZZ_REQUESTS=10000
# (with a quiet minute before its last RSS reading, BERTH_FUZZ_QUIET_S) is the long form, BERTH_FUZZ_SEED=<printed seed>
# replays a run, BERTH_FUZZ_MAX_BODY sets the largest body in bytes (default 8 MiB).
test-unit: build
	$(JEST) test/unit

test-host: build
	$(JEST) test/host

test-integration: build
	$(JEST) test/integration

# `test` includes the fault soak (test/integration/fault-soak.test.ts, about 1.5 min); BERTH_SOAK_SECONDS=<n>
# runs each of its faults n seconds instead of 5, e.g. `BERTH_SOAK_SECONDS=120 make test-integration`.
test: build
	$(JEST) test/unit test/host test/integration
	$(MAKE) e2e
	$(MAKE) fleet

clean:
	rm -rf dist build

-include plugin/plugin.mk
-include bench/bench.mk
-include bench/fleet/fleet.mk
-include demo/demo.mk
-include test/swarm/swarm.mk
