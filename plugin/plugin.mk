# The managed plugin: included by the top-level Makefile.
#
#   make plugin-rootfs               build/plugin (config.json + rootfs/), nothing else
#                                    [PLUGIN_ARCH=arm64: build/plugin-arm64, Debian's arm64 packages and Node runtime]
#   make plugin                      ... and `docker plugin create $(PLUGIN_NAME)` (disabled)
#   make enable                      docker plugin enable $(PLUGIN_NAME)
#   make push REGISTRY=host:port     create $(REGISTRY)/berth/ebs:<version>-<arch> and :latest-<arch> (amd64 also
#                                    :<version> and :latest) for each of PLUGIN_ARCHES, push them; the same tags
#                                    of berth/ebs-csi (Swarm cluster volumes)
#   make install REGISTRY=host:port  docker plugin install ... --alias berth/ebs  [PLUGIN_SETTINGS="KEY=VALUE ..."]
#                                    [PLUGIN_ARCH=arm64: the -arm64 tag]
#   make plugin-csi                  build/plugin-csi: berth/ebs-csi, Swarm cluster volumes (CSI), from the same rootfs
#   make legacy                      build/legacy: berth for the host (systemd) with the plugin's Node.js runtime
#   make e2e                         the end-to-end tests against a private dockerd (root)
#                                    [DOCKER_ENGINE=bookworm|trixie|sid: Docker 20.10, 26.1, 28.x; see
#                                    test/support/docker-engines.mjs]
#   make e2e-engines                 make e2e on every engine of DOCKER_ENGINES, then says which failed
#
# Every docker command honours DOCKER_HOST (the tests point it at a private dockerd).
# The rootfs is made from this machine's Debian packages (no registry needed); the Debian part and the Node.js
# runtime are cached in $(PLUGIN_CACHE). Dockerfile builds the same rootfs where Docker Hub is reachable.

PLUGIN_NAME ?= berth/ebs:latest
# Engines that serve Swarm cluster volumes from a CSI plugin (Docker 28 and later): the e2e suite runs its
# cluster-volume file only on these.
CSI_ENGINES ?= sid
PLUGIN_REPO ?= berth/ebs
PLUGIN_CSI_REPO ?= berth/ebs-csi
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
PLUGIN_ARCH ?= $(HOST_ARCH)
PLUGIN_DIR ?= build/plugin$(if $(filter-out $(HOST_ARCH),$(PLUGIN_ARCH)),-$(PLUGIN_ARCH))
PLUGIN_CACHE ?= /var/cache/berth
PLUGIN_ENABLE_TIMEOUT ?= 120
PLUGIN_SETTINGS ?=
NODE_VERSION ?=
REGISTRY ?=
DOCKER ?= docker
PLUGIN_VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null)

ifdef DOCKER_HOST
export DOCKER_HOST
endif

ASSEMBLE_ARGS := --out $(PLUGIN_DIR) --arch $(PLUGIN_ARCH) --cache $(PLUGIN_CACHE) --if-stale $(if $(NODE_VERSION),--node-version $(NODE_VERSION))

.PHONY: legacy plugin-rootfs plugin-csi plugin enable push install e2e e2e-suite e2e-engines plugin-require-registry

plugin-rootfs: deps
	node plugin/assemble.mjs $(ASSEMBLE_ARGS)

plugin-csi: plugin-rootfs
	node plugin/csi-plugin.mjs --from $(PLUGIN_DIR) --out $(PLUGIN_DIR)-csi

legacy: plugin-rootfs
	node plugin/legacy/assemble.mjs --plugin $(PLUGIN_DIR) --out build/legacy

# Replaces a disabled plugin of the same name; refuses to touch an enabled one (volumes may be in use).
plugin: plugin-rootfs
	@state=$$($(DOCKER) plugin inspect --format '{{.Enabled}}' $(PLUGIN_NAME) 2>/dev/null || true); \
	if [ "$$state" = "true" ]; then \
	  echo "$(PLUGIN_NAME) is enabled: disable it first (docker plugin disable $(PLUGIN_NAME))" >&2; exit 1; \
	elif [ "$$state" = "false" ]; then \
	  $(DOCKER) plugin rm $(PLUGIN_NAME) >/dev/null; \
	fi
	$(DOCKER) plugin create $(PLUGIN_NAME) $(PLUGIN_DIR)

enable:
	$(DOCKER) plugin enable --timeout $(PLUGIN_ENABLE_TIMEOUT) $(PLUGIN_NAME)

plugin-require-registry:
	@if [ -z "$(REGISTRY)" ]; then echo "set REGISTRY=host:port" >&2; exit 1; fi

# docker plugin has no tag command: create one local plugin per pushed name, push it, remove it
# (an enabled plugin of that name is left alone: the rm fails and so does push).
# A plugin's config names no architecture, and docker plugin install resolves no index (manifest list) of plugins
# ("did not find plugin config for specified reference", Docker 20.10 to 28.5): each architecture gets its own tags,
# <version>-<arch> and latest-<arch>; amd64 also gets <version> and latest, what `docker plugin install berth/ebs`
# takes. PLUGIN_ARCHES="amd64 arm64" pushes both.
PLUGIN_ARCHES ?= $(HOST_ARCH)
push: plugin-require-registry
	@set -e; for arch in $(PLUGIN_ARCHES); do \
	  $(MAKE) --no-print-directory plugin-rootfs PLUGIN_ARCH=$$arch PLUGIN_DIR=build/plugin$$([ $$arch = $(HOST_ARCH) ] || echo -$$arch); \
	  dir=build/plugin$$([ $$arch = $(HOST_ARCH) ] || echo -$$arch); \
	  node plugin/csi-plugin.mjs --from $$dir --out $$dir-csi >/dev/null; \
	  tags="$(PLUGIN_VERSION)-$$arch latest-$$arch"; if [ $$arch = amd64 ]; then tags="$(PLUGIN_VERSION) latest $$tags"; fi; \
	  for tag in $$tags; do \
	    for pair in "$(PLUGIN_REPO) $$dir" "$(PLUGIN_CSI_REPO) $$dir-csi"; do \
	      set -- $$pair; ref=$(REGISTRY)/$$1:$$tag; \
	      if $(DOCKER) plugin inspect $$ref >/dev/null 2>&1; then $(DOCKER) plugin rm $$ref >/dev/null; fi; \
	      $(DOCKER) plugin create $$ref $$2; \
	      $(DOCKER) plugin push $$ref || { $(DOCKER) plugin rm $$ref >/dev/null; exit 1; }; \
	      $(DOCKER) plugin rm $$ref >/dev/null; \
	    done; \
	  done; \
	done

install: plugin-require-registry
	$(DOCKER) plugin install --grant-all-permissions --alias $(PLUGIN_REPO) $(REGISTRY)/$(PLUGIN_REPO):$(PLUGIN_VERSION)$(if $(filter-out amd64,$(PLUGIN_ARCH)),-$(PLUGIN_ARCH)) $(PLUGIN_SETTINGS)

e2e: build plugin-rootfs
	@$(MAKE) --no-print-directory e2e-suite

# The suite alone, on the dist/ and build/plugin already made (the targets above make them once for every engine).
e2e-suite:
	@node test/support/docker-engines.mjs --announce $(DOCKER_ENGINE)
	$(JEST) --runInBand test/e2e $(if $(filter $(DOCKER_ENGINE),$(CSI_ENGINES)),,--testPathIgnorePatterns test/e2e/cluster-volumes)

e2e-engines: build plugin-rootfs
	+@$(call each-engine,e2e-suite,$(DOCKER_ENGINES))
