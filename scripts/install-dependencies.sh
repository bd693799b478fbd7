#!/usr/bin/env bash
# Installs the Debian packages AlignCL builds and runs with (skips what is already there):
# OpenCL headers and ICD loader, PoCL (an OpenCL implementation for CPUs), clinfo, OpenBLAS
# (the CPU path's GEMM), stb_image (decodes PNG/JPEG/BMP of dataset folders), Open MPI (the
# scripts build with the MPI trait: data-parallel training under mpirun), python3 and
# python3-venv (the checks against NumPy and the safetensors reference).
set -euo pipefail
packages=(ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libopenblas-dev libstb-dev libopenmpi-dev openmpi-bin python3 python3-venv)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "dependencies: all installed (${packages[*]})" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "dependencies: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "dependencies: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
