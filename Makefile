# berth: `make demo` runs the main job, `make test` runs every test (what CI runs).
SHELL := /bin/bash
NPM ?= npm
JEST := npx jest

# The Docker engine the e2e and swarm suites run against (test/support/docker-engines.mjs): bookworm is the
# installed docker.io (20.10); trixie (26.1) and sid (28.x) are fetched from Debian's archive into a cache, once.
DOCKER_ENGINE ?= bookworm
export DOCKER_ENGINE
DOCKER_ENGINES ?= bookworm trixie sid
SWARM_ENGINES ?= bookworm sid

# $(call each-engine,target,engines): make the target once per engine, all of them, then fail naming those that failed.
# Each run's output goes to build/test-logs/<target>-<engine>.log and is shown whole when it ends (two suites run
# side by side in docker-suites).
each-engine = mkdir -p build/test-logs; failed=""; for engine in $(2); do \
    log=build/test-logs/$(1)-$$engine.log; echo "make $(1) DOCKER_ENGINE=$$engine: started (output in $$log)"; \
    $(MAKE) --no-print-directory $(1) DOCKER_ENGINE=$$engine > $$log 2>&1 || failed="$$failed $$engine"; cat $$log; \
  done; \
  if [ -n "$$failed" ]; then echo "make $(1) failed on:$$failed" >&2; exit 1; fi

.PHONY: all build deps test docker-suites test-packages test-unit test-host test-integration e2e swarm-test bench demo demo-clean clean lint

all: build

deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json
	$(NPM) ci --no-audit --no-fund

build: deps
	$(NPM) run build

# What the tests need from Debian, installed with apt-get when missing (as root; as `make demo` does): filesystems
# and loop devices, network namespaces, the Docker engine, a registry for plugin pushes, the test image's busybox,
# and the arm64 emulator with its cross strip (the arm64 plugin build and its tests).
TEST_PACKAGES := e2fsprogs xfsprogs util-linux iproute2 docker.io docker-registry busybox-static ca-certificates systemd file \
  qemu-user-static binutils-aarch64-linux-gnu
test-packages:
	@missing=""; for package in $(TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make test needs these Debian packages:$$missing (run it as root to install them)" >&2; exit 1; fi; \
	  echo "installing Debian packages the tests need:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

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
test: test-packages build
	$(JEST) test/unit test/host test/integration
	$(MAKE) docker-suites
	$(MAKE) fleet

# The e2e suite on every engine beside the swarm suite on two: they share only dist/ and build/plugin, made first.
docker-suites: build plugin-rootfs
	$(MAKE) --no-print-directory -j2 e2e-engines swarm-test-engines

clean:
	rm -rf dist build

-include plugin/plugin.mk
-include bench/bench.mk
-include bench/fleet/fleet.mk
-include demo/demo.mk
-include test/swarm/swarm.mk
