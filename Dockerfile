# The plugin rootfs, built where a Debian image can be pulled. `make plugin` builds the same rootfs without Docker
# (from this machine's Debian packages); both run plugin/assemble.mjs, so the layouts are identical.
#
#   docker build -t berth-rootfs .                  (arm64: docker buildx build --platform linux/arm64 ...)
#   id=$(docker create berth-rootfs)
#   mkdir -p build/plugin/rootfs && docker export "$id" | tar -x -C build/plugin/rootfs && docker rm "$id"
#   cp config.json build/plugin/ && docker plugin create berth/ebs:latest build/plugin
#
# BASE must be Debian bookworm (or a mirror of it): the tools and their libraries are copied from its packages.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
# nodejs/npm only run the build (esbuild, npm pack); the plugin carries Node 24 from the npm registry.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs npm e2fsprogs xfsprogs util-linux mount ca-certificates binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json config.json ./
COPY plugin ./plugin
COPY src ./src
ARG BERTH_COMMIT=unknown
ENV BERTH_COMMIT=${BERTH_COMMIT}
RUN node plugin/assemble.mjs --out /out/plugin --cache /var/cache/berth

FROM scratch
COPY --from=build /out/plugin/rootfs/ /
WORKDIR /berth
ENTRYPOINT ["/usr/local/bin/node", "/berth/cli.js", "serve"]
