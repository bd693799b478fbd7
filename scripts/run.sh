#!/usr/bin/env bash
# The main job: installs what the build needs, builds aligncl (release), and trains the default
# model (recipe itc-itm) on the built-in `shapes` data on the auto-chosen backend, printing the
# test metrics. Extra arguments go to `aligncl train` (e.g. --recipe clip --steps 200).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
swift build -c release --product aligncl
exec .build/release/aligncl train "$@"
