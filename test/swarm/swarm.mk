# The multi-host tests: a real three-node Docker Swarm on this machine, berth installed in every node from a
# private registry, one local EC2 endpoint (see test/swarm/cluster.ts). Needs root, docker.io, docker-registry,
# busybox-static, iproute2 and util-linux; outside CI the suite skips loudly when they are missing.
#
#   make swarm-test    builds dist/ and build/plugin (reused when fresh), then runs test/swarm (about 5 minutes)
#
# Included by the top-level Makefile; `make test` runs it too.

.PHONY: swarm-test

swarm-test: build plugin-rootfs
	$(JEST) --runInBand test/swarm

test: swarm-test
