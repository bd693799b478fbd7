#!/usr/bin/env bash
# The test command: installs what the build needs, builds, and runs every test suite.
# OpenCL tests run on any usable device (PoCL here); with CI=true or ALIGNCL_REQUIRE_OPENCL=1 a
# missing device fails them instead of skipping them. The CPU path is tested either way.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
# Release: the CPU path's vector loops and the float64 references run ~50× slower unoptimised.
swift build -c release --build-tests
swift test -c release --skip-build --disable-xctest "$@"
