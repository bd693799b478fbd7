#!/usr/bin/env bash
# The GPU-class kernels on Oclgrind's simulated GPU with the smallest limits a conformant GPU
# may have (32 KiB of local memory, work-groups of 256): `aligncl op` for every family against
# NumPy in float64 (forward and gradients), a tiny training run of the default recipe, and a
# tiny pretrained CLIP folder's embeddings against transformers'.
# Oclgrind checks every access: a data race, an out-of-bounds access, barrier divergence or an
# API error anywhere fails the check. (PoCL, on CPUs, hides all of these.)
#
# usage: scripts/check-oclgrind.sh [PATH/TO/aligncl]   (default .build/release/aligncl)
set -euo pipefail
cd "$(dirname "$0")/.."
aligncl=${1:-.build/release/aligncl}
runtime=/usr/lib/oclgrind/liboclgrind-rt.so
if [ ! -e "$runtime" ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "oclgrind: installing the Debian package" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends oclgrind >&2
fi
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Oclgrind never changes a program's exit status: its reports go to the log, checked below.
export ALIGNCL_OPENCL_LIBRARY=$runtime OCLGRIND_LOG=$work/oclgrind.log
export OCLGRIND_LOCAL_MEM_SIZE=32768 OCLGRIND_MAX_WGSIZE=256 OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1
# A separate program cache: binaries built for the simulator are not PoCL's.
export ALIGNCL_CACHE_DIR=$work/cache

"$aligncl" devices | grep -q "gpu-class kernels (local memory 32 KiB, max work-group 256" \
    || { "$aligncl" devices >&2; echo "oclgrind: aligncl does not see the simulated GPU with its limits" >&2; exit 1; }
python3 scripts/check-against-numpy.py "$aligncl" --small opencl >"$work/numpy.txt" 2>&1 || { cat "$work/numpy.txt" >&2; exit 1; }
"$aligncl" train --recipe itc-itm --steps 2 --batch-size 4 --train-samples 16 --eval-samples 8 --width 16 --heads 2 \
    --text-layers 1 --image-layers 1 --image-size 16 --projection 8 --backend opencl --run-dir "$work/run" >"$work/train.txt" 2>&1 \
    || { cat "$work/train.txt" >&2; echo "oclgrind: the training run failed" >&2; exit 1; }
# A pretrained CLIP folder (quick_gelu, key biases, causal text, the vision tower) through
# embed, checked against transformers' features.
printf 'a red square\nthe blue circle on the left\n' >"$work/texts.txt"
"$aligncl" embed --model Tests/Fixtures/hf/clip-tiny --texts "$work/texts.txt" --images Tests/Fixtures/hf/clip-tiny/images \
    --output-dir "$work/embed" --backend opencl >"$work/embed.txt" 2>&1 \
    || { cat "$work/embed.txt" >&2; echo "oclgrind: embed --model failed" >&2; exit 1; }
python3 - "$work/embed/image_embeddings.npy" Tests/Fixtures/hf/clip-tiny/image_features.npy <<'PY' || { echo "oclgrind: CLIP image features differ from transformers'" >&2; exit 1; }
import sys, numpy as np
got, expected = np.load(sys.argv[1]), np.load(sys.argv[2])
assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected), np.abs(got - expected).max()
PY
# Reports go to the log; API errors the simulator detects are also printed on stderr.
if [ -s "$OCLGRIND_LOG" ] || grep -q "Oclgrind - " "$work/numpy.txt" "$work/train.txt" "$work/embed.txt"; then
    head -c 4000 "$OCLGRIND_LOG" >&2
    grep -h -A4 "Oclgrind - " "$work/numpy.txt" "$work/train.txt" "$work/embed.txt" | head -40 >&2
    echo "oclgrind: the simulator reported errors (above)" >&2
    exit 1
fi
echo "oclgrind: $(tail -1 "$work/numpy.txt") against NumPy, a training run and a CLIP folder's embeddings: no reports" >&2
