# The multi-host tests: a real three-node Docker Swarm on this machine, berth installed in every node from a
# private registry, one local EC2 endpoint (see test/swarm/cluster.ts). Needs root, docker.io, docker-registry,
# busybox-static, iproute2 and util-linux; outside CI the suite skips loudly when they are missing.
#
#   make swarm-test            builds dist/ and build/plugin (reused when fresh), then runs test/swarm (about 5
#                              minutes; on the engines of CSI_ENGINES also cluster-volumes.test.ts, berth/ebs-csi,
#                              about 1.5 more) [DOCKER_ENGINE=bookworm|trixie|sid]
#   make swarm-test-engines    make swarm-test on every engine of SWARM_ENGINES
#
# Included by the top-level Makefile; `make test` runs swarm-test-engines beside the e2e suites (docker-suites).

.PHONY: swarm-test swarm-suite swarm-test-engines

swarm-test: build plugin-rootfs
	@$(MAKE) --no-print-directory swarm-suite

# The suite alone, on the dist/ and build/plugin already made; Swarm cluster volumes only where CSI_ENGINES
# (plugin/plugin.mk) says the engine serves them.
swarm-suite:
	@node test/support/docker-engines.mjs --announce $(DOCKER_ENGINE)
	$(JEST) --runInBand test/swarm $(if $(filter $(DOCKER_ENGINE),$(CSI_ENGINES)),,--testPathIgnorePatterns test/swarm/cluster-volumes)

swarm-test-engines: build plugin-rootfs
	+@$(call each-engine,swarm-suite,$(SWARM_ENGINES))
