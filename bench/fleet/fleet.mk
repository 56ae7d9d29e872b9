# The fleet simulation: included by the top-level Makefile.
#
#   make fleet           20 berth daemons (legacy mode) in two zones on one local EC2 endpoint with EC2-like delays
#                        and EC2's request limits divided by 2, driven for 60 s at 2 operations/s; ends with
#                        `N operations, M failed` and fails when an operation failed or anything was left behind.
#                        Part of `make test`. Longer: FLEET_SECONDS=600; more: FLEET_INSTANCES=40 FLEET_RATE=4.
#   make fleet-compare   the same fleet run first with berth at FLEET_BASELINE (a commit, built in build/fleet-baseline)
#                        and then with this tree; both reports and a table side by side in bench/results/fleet-compare.md.
#
# Settings (environment): see bench/fleet/main.ts.

FLEET_BASELINE ?= 90da097
FLEET_RUN := node --enable-source-maps test/support/run-ts.cjs bench/fleet/main.ts

.PHONY: fleet fleet-compare

fleet: build
	$(FLEET_RUN)

build/fleet-baseline/dist/cli.js:
	rm -rf build/fleet-baseline
	git worktree prune
	git worktree add --detach build/fleet-baseline $(FLEET_BASELINE)
	cd build/fleet-baseline && $(NPM) ci --no-audit --no-fund && $(NPM) run build

fleet-compare: build build/fleet-baseline/dist/cli.js
	mkdir -p bench/results
	FLEET_BERTH=$(CURDIR)/build/fleet-baseline/dist/cli.js FLEET_LABEL="$(FLEET_BASELINE) (before)" FLEET_EXPECT_FAILURES=1 \
	  FLEET_JSON=bench/results/fleet-before.json $(FLEET_RUN) | tee bench/results/fleet-before.txt
	FLEET_LABEL="this tree" FLEET_EXPECT_FAILURES=1 FLEET_JSON=bench/results/fleet-after.json $(FLEET_RUN) | tee bench/results/fleet-after.txt
	node --enable-source-maps test/support/run-ts.cjs bench/fleet/compare.ts bench/results/fleet-before.json bench/results/fleet-after.json \
	  | tee bench/results/fleet-compare.md
