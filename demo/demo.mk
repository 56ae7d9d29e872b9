# `make demo` and `make demo-clean`: included by the top-level Makefile (see demo/demo.mjs for what they do).
#
#   make demo        installs what is missing, builds berth and its plugin, starts the local EC2 endpoint and a
#                    private dockerd, enables berth/ebs, and shows a volume outliving its container (as root)
#   make demo-clean  removes everything `make demo` made
#
# The demo's own steps (npm ci, build, plugin build) are timed in its transcript, so it does not depend on `build`.
# demo/demo.mjs and demo/clean.mjs are plain JavaScript: they install the npm packages when needed, then run the
# TypeScript (demo/main.ts, demo/clean.ts, sharing test/support) through test/support/run-ts.cjs.

.PHONY: demo demo-clean

demo:
	node demo/demo.mjs

demo-clean:
	node demo/clean.mjs
