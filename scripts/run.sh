#!/usr/bin/env bash
# The main job. Until training lands (issue 6), it shows what AlignCL does today: lists the
# OpenCL devices, runs GEMM and a masked softmax through `aligncl op` on the auto-chosen
# backend and on the CPU path, and benchmarks GEMM, softmax and attention on OpenCL against
# the CPU path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
swift build -c release --product aligncl
aligncl=.build/release/aligncl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$aligncl" devices

# Inputs as .npy files, written with the Python standard library only.
python3 - "$work" <<'PY'
import random, struct, sys
def save(path, shape, values, descr="<f4", fmt="f"):
    dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))
rng = random.Random(0)
save(sys.argv[1] + "/a.npy", [256, 128], [rng.uniform(-1, 1) for _ in range(256 * 128)])
save(sys.argv[1] + "/b.npy", [128, 64], [rng.uniform(-1, 1) for _ in range(128 * 64)])
save(sys.argv[1] + "/x.npy", [8, 1000], [rng.uniform(-1e4, 1e4) for _ in range(8000)])
save(sys.argv[1] + "/mask.npy", [8, 1000], [int(i >= 1000 and rng.random() > 0.5) for i in range(8000)], "|b1", "B")
PY

for backend in auto cpu; do
    "$aligncl" op gemm --backend "$backend" --input a="$work/a.npy" --input b="$work/b.npy" --output-dir "$work/gemm-$backend"
    "$aligncl" op softmax --backend "$backend" --input x="$work/x.npy" --input mask="$work/mask.npy" --output-dir "$work/softmax-$backend"
    echo "op gemm and softmax on $backend: wrote $(ls "$work/gemm-$backend" "$work/softmax-$backend" | grep -c npy) files" >&2
done

"$aligncl" bench gemm --sizes 512 1024
"$aligncl" bench softmax --sizes 4096x4096
"$aligncl" bench attention --sizes 8x8x256x64
