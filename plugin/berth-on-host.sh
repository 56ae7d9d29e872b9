#!/bin/sh
# berth's command line on a host where the managed plugin is installed: the plugin's own Node.js and berth, run from
# the plugin's root filesystem with that filesystem's loader and libraries, so the host needs nothing but Docker.
# Installed in the rootfs as /berth/berth; the README's "Day two" links it into the host's PATH:
#   sudo ln -sf "$(docker info -f '{{.DockerRootDir}}')/plugins/$(docker plugin inspect -f '{{.Id}}' berth/ebs)/rootfs/berth/berth" /usr/local/bin/berth
set -eu
self=$(readlink -f "$0")
rootfs=${self%/berth/berth}
case "$(uname -m)" in
  x86_64) triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  aarch64) triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) echo "berth: the plugin has no runtime for $(uname -m)" >&2; exit 5 ;;
esac
libs="$rootfs/usr/lib/$triplet"
if [ ! -x "$libs/$loader" ]; then
  echo "berth: $rootfs is not a berth plugin's root filesystem (is the plugin still installed? link again after a reinstall)" >&2
  exit 5
fi
# The rootfs's /lib64 link is absolute (it would reach the host's loader): call its loader by its real path.
exec "$libs/$loader" --library-path "$libs" "$rootfs/usr/local/bin/node" "$rootfs/berth/cli.js" "$@"
