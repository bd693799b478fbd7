#!/usr/bin/env bash
# The one prepared check for a machine with a GPU, bounded to about 8 minutes:
#   1. aligncl devices (registering NVIDIA's OpenCL ICD first where the container has the
#      driver's libnvidia-opencl.so.1 but no ICD file, under a temporary OCL_ICD_VENDORS);
#   2. the NumPy agreement check on --backend opencl with both --kernels variants;
#   3. aligncl tune --budget 120;
#   4. aligncl bench --preset standard --format json, and GEMM 4096³;
#   5. the same cases with PyTorch on CUDA (TF32 off, FP32), when a python3 with torch sees CUDA.
# It writes OUT/summary.md (one markdown table of ratios) and the raw JSON next to it.
#
#   scripts/gpu-check.sh [--aligncl PATH | --tarball dist/aligncl-*.tar.gz] [--out DIR] [--tune-budget S]
#
# Without --aligncl or --tarball it uses .build/release/aligncl, building it if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
aligncl="" tarball="" out="gpu-check-$(date -u +%Y%m%d-%H%M%S)" tune_budget=120
while [[ $# -gt 0 ]]; do
    case "$1" in
        --aligncl) aligncl=${2:?--aligncl needs a path}; shift 2 ;;
        --tarball) tarball=${2:?--tarball needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --tune-budget) tune_budget=${2:?--tune-budget needs seconds}; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
start=$(date +%s)
limit=$((8 * 60))
say() { echo "gpu-check: $*" >&2; }
# Seconds left of the 8 minutes, at least 10 (a step that gets 10 s fails by its timeout).
left() { local l=$((limit - ($(date +%s) - start))); echo $((l > 10 ? l : 10)); }
mkdir -p "$out"
out=$(cd "$out" && pwd)
temporary=$(mktemp -d)
trap 'rm -rf "$temporary"' EXIT

if [[ -n "$tarball" ]]; then
    tar -C "$temporary" -xzf "$tarball"
    aligncl=$(ls -d "$temporary"/aligncl-*/bin/aligncl)
elif [[ -z "$aligncl" ]]; then
    aligncl=.build/release/aligncl
    [[ -x "$aligncl" ]] || { say "building aligncl (release)"; swift build -c release --product aligncl >&2; }
fi
aligncl=$(readlink -f "$aligncl")
[[ -x "$aligncl" ]] || { say "no aligncl at $aligncl"; exit 1; }
say "aligncl: $aligncl ($("$aligncl" --version)), results in $out"

# 1. NVIDIA containers often carry the driver's OpenCL library without /etc/OpenCL/vendors/nvidia.icd.
if [[ -z "${OCL_ICD_VENDORS:-}" ]] && ! grep -qls nvidia /etc/OpenCL/vendors/*.icd 2>/dev/null; then
    nvidia=$( (ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 / { print $NF; exit }') || true)
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
        [[ -z "$nvidia" && -e "$dir/libnvidia-opencl.so.1" ]] && nvidia="$dir/libnvidia-opencl.so.1"
    done
    if [[ -n "$nvidia" ]]; then
        mkdir -p "$temporary/vendors"
        cp /etc/OpenCL/vendors/*.icd "$temporary/vendors/" 2>/dev/null || true
        echo "$nvidia" > "$temporary/vendors/nvidia.icd"
        export OCL_ICD_VENDORS="$temporary/vendors"
        say "registered NVIDIA's OpenCL ICD ($nvidia) under a temporary OCL_ICD_VENDORS=$OCL_ICD_VENDORS: the container had the driver's library but no /etc/OpenCL/vendors/nvidia.icd"
    fi
fi
"$aligncl" devices | tee "$out/devices.txt" >&2
grep -q "backend auto would choose: opencl" "$out/devices.txt" || { say "no OpenCL device: nothing to check on a GPU"; exit 1; }

# 2. NumPy agreement on OpenCL with both kernel variants.
python=python3
if ! python3 -c "import numpy" 2>/dev/null; then
    python3 -m venv "$temporary/numpy" && "$temporary/numpy/bin/pip" install --quiet numpy && python="$temporary/numpy/bin/python"
fi
for variant in cpu gpu; do
    say "NumPy agreement, --kernels $variant"
    ALIGNCL_KERNELS=$variant timeout "$(left)" "$python" scripts/check-against-numpy.py "$aligncl" opencl > "$out/numpy-$variant.txt" 2>&1 \
        || { cat "$out/numpy-$variant.txt" >&2; say "the NumPy check failed with --kernels $variant"; exit 1; }
done

# 3. Tuning, stored for the bench below (and for later runs on this machine).
say "aligncl tune --budget $tune_budget"
timeout "$(left)" "$aligncl" tune --budget "$tune_budget" > "$out/tune.txt" 2> "$out/tune.log" || { cat "$out/tune.log" >&2; say "aligncl tune failed"; exit 1; }
cat "$out/tune.txt" >&2

# 4. The standard preset, then GEMM 4096³ (the GPU-sized case), on OpenCL.
say "aligncl bench --preset standard"
timeout "$(left)" "$aligncl" bench --preset standard --backends opencl --format json --output "$out/bench.json" 2> "$out/bench.log" \
    || { cat "$out/bench.log" >&2; say "aligncl bench failed"; exit 1; }
timeout "$(left)" "$aligncl" bench gemm --sizes 4096 --backends opencl --repetitions 5 --format json --output "$out/bench-gemm4096.json" 2>> "$out/bench.log" \
    || say "GEMM 4096³ did not finish in time; the table leaves it out"

# 5. PyTorch on CUDA, with the peers' comparison (it takes the JSON above as AlignCL's side).
torch_python=""
for candidate in "${PYTHON:-}" python3; do
    [[ -n "$candidate" ]] || continue
    if "$candidate" -c "import torch, numpy, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then torch_python=$(command -v "$candidate"); break; fi
done
if [[ -n "$torch_python" ]]; then
    mkdir -p "$temporary/venv/bin" && ln -s "$torch_python" "$temporary/venv/bin/python"
    say "PyTorch on CUDA: $("$torch_python" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())')"
    timeout "$(left)" python3 Benchmarks/peers/compare.py --skip-tinygrad --torch-device cuda --venv "$temporary/venv" --aligncl "$aligncl" \
        --cases gemm1024,gemm2048,gemm4096,softmax,attention,infonce,layernorm,train-step --json "$out/compare.json" > "$out/compare.md" 2> "$out/compare.log" \
        || { cat "$out/compare.log" >&2; say "the PyTorch comparison failed"; }
else
    say "skipping the PyTorch comparison: no python3 here imports torch with CUDA available (set PYTHON to one that does)"
fi

# One markdown table: AlignCL's throughput per case, and the ratio to PyTorch on CUDA where measured.
"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
for name in ("bench.json", "bench-gemm4096.json"):
    path = os.path.join(out, name)
    if os.path.exists(path):
        rows += [r for r in json.load(open(path)) if r.get("backend") == "opencl"]
ratios = {}
compare = os.path.join(out, "compare.json")
if os.path.exists(compare):
    for case in json.load(open(compare)).get("cases", []):
        mine, theirs = case.get("aligncl_opencl") or {}, case.get("torch_cpu") or case.get("torch_cuda") or {}
        if mine.get("median_s") and theirs.get("median_s"):
            ratios[mine["name"]] = theirs["median_s"] / mine["median_s"]
devices = open(os.path.join(out, "devices.txt")).read().splitlines()
lines = ["# gpu-check", "", "Device: " + next((l.strip() for l in devices if l.strip().startswith("[")), "?"), "",
         "| case | AlignCL OpenCL median | throughput | PyTorch CUDA time / AlignCL time |", "|---|---|---|---|"]
for r in rows:
    if r.get("medianSeconds") is None:
        lines.append(f"| {r['name']} | failed: {r.get('failure')} | | |")
        continue
    ratio = ratios.get(r["name"])
    lines.append(f"| {r['name']} | {r['medianSeconds'] * 1e3:.3f} ms | {r['throughput']:.1f} {r['unit']} | "
                 + (f"{ratio:.2f}×" if ratio else "not measured") + " |")
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
PY
cat "$out/summary.md"
say "done in $(( $(date +%s) - start )) s: $out (summary.md, devices.txt, numpy-*.txt, tune.txt, bench*.json$( [[ -f "$out/compare.json" ]] && echo ", compare.json"))"
