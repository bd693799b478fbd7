#!/usr/bin/env bash
# The main job: installs what the build needs, builds aligncl (release), and trains the default
# model (recipe itc-itm) on the built-in `shapes` data on the auto-chosen backend, printing the
# test metrics. Extra arguments go to `aligncl train` (e.g. --recipe clip --steps 200). Built
# with the MPI trait like scripts/test.sh, so the two share one build (and mpirun works).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
swift build -c release --traits MPI --product aligncl
exec .build/release/aligncl train "$@"
