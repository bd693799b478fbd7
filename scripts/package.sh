#!/usr/bin/env bash
# Writes dist/aligncl-<version>-linux-x86_64.tar.gz: aligncl built with the Swift standard
# library and Foundation linked in (--static-swift-stdlib), the shared libraries it needs that a
# bare Linux lacks (OpenBLAS with its Fortran runtime; an OpenCL ICD loader, used only when the
# system has none), a launcher and a README. The result runs where no Swift toolchain is.
# Built without the MPI trait (a cluster brings its own MPI; see the README to build with it).
#
#   scripts/package.sh            # build, then package
#   scripts/package.sh --check    # also run the tarball in a bare Debian chroot (debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
for argument in "$@"; do
    case "$argument" in
        --check) check=true ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package.sh: unknown argument '$argument' (expected --check)" >&2; exit 2 ;;
    esac
done
[[ "$(uname -m)" == x86_64 && "$(uname -s)" == Linux ]] || { echo "package.sh: builds the linux-x86_64 tarball, on Linux x86-64 only" >&2; exit 1; }
bash scripts/install-dependencies.sh

# Its own build folder: the static standard library must not mix with the tests' build.
scratch=.build-static
# DT_RPATH, not RUNPATH (--disable-new-dtags): an executable's RPATH also serves the libraries'
# own dependencies (OpenBLAS needs libgfortran), where RUNPATH serves its direct ones only.
swift build -c release --product aligncl --static-swift-stdlib --scratch-path "$scratch" \
    -Xlinker --disable-new-dtags -Xlinker -rpath -Xlinker '$ORIGIN/../lib' >&2
binary="$scratch/release/aligncl"
version=$("$binary" --version)
name="aligncl-$version-linux-x86_64"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/bin" "$root/libexec" "$root/lib/opencl"
cp "$binary" "$root/libexec/aligncl"
strip --strip-unneeded "$root/libexec/aligncl" 2>/dev/null || true

# Every shared library the binary loads except the C and C++ runtimes every Linux has (glibc,
# libstdc++, libgcc_s). A Swift toolchain library here would mean the static link failed.
while read -r library path; do
    case "$library" in
        libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*|linux-vdso*) continue ;;
    esac
    [[ "$path" == /opt/swift/* || "$path" == */usr/lib/swift/* ]] && { echo "package.sh: $library still comes from the Swift toolchain ($path)" >&2; exit 1; }
    cp -L "$path" "$root/lib/$library"
done < <(ldd "$binary" | awk '/=> \// { print $1, $3 }')
# The ICD loader: aligncl opens it at run time, so ldd does not list it.
loader=$(ldconfig -p | awk '/libOpenCL\.so\.1 .*x86-64/ { print $NF; exit }')
[[ -n "$loader" ]] || { echo "package.sh: no libOpenCL.so.1 to bundle (apt-get install ocl-icd-libopencl1)" >&2; exit 1; }
cp -L "$loader" "$root/lib/opencl/libOpenCL.so.1"

cat > "$root/bin/aligncl" <<'LAUNCHER'
#!/bin/sh
# Runs the bundled aligncl. The system's OpenCL ICD loader (libOpenCL.so.1, which finds the GPU
# drivers' ICDs) is used when there is one; the bundled loader only when there is none.
here=$(dirname "$(readlink -f "$0")")/..
if [ -z "${ALIGNCL_OPENCL_LIBRARY:-}" ]; then
    found=false
    if command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so\.1 '; then found=true; fi
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
        [ -e "$dir/libOpenCL.so.1" ] && found=true
    done
    [ "$found" = true ] || export ALIGNCL_OPENCL_LIBRARY="$here/lib/opencl/libOpenCL.so.1"
fi
exec "$here/libexec/aligncl" "$@"
LAUNCHER
chmod +x "$root/bin/aligncl"

cat > "$root/README.md" <<README
# aligncl $version for Linux x86-64

    bin/aligncl devices                 # OpenCL devices, the CPU path, what --backend auto picks
    bin/aligncl train --steps 300       # the default model on the built-in shapes data
    bin/aligncl tune                    # measure the best kernel parameters for your GPU, once

**Needs from the system:** Linux x86-64 with glibc 2.36 or later (Debian 12, Ubuntu 22.10,
RHEL 10 or newer), libstdc++ and libgcc_s (present on any such system), and a CPU with AVX2 and
FMA (2013 and later). For a GPU: its driver with the driver's OpenCL ICD, registered under
/etc/OpenCL/vendors (NVIDIA: the driver's libnvidia-opencl.so.1; AMD: ROCm's OpenCL runtime;
Intel: intel-opencl-icd). Without an OpenCL device, every command runs on the CPU path and says so.

**Bundled in lib/:** OpenBLAS (the CPU path's GEMM) with its Fortran runtime, and an OpenCL ICD
loader in lib/opencl/ that bin/aligncl uses only when the system has no libOpenCL.so.1. No
Swift toolchain is needed: the Swift runtime and Foundation are linked into libexec/aligncl.

Not included: data-parallel training over MPI (build from source with \`--traits MPI\`).
Environment variables, file formats and every command: \`bin/aligncl --help\`,
\`bin/aligncl <command> --help\`.
README

mkdir -p dist
tarball="dist/$name.tar.gz"
tar -C "$stage" -czf "$tarball.partial" "$name"
mv "$tarball.partial" "$tarball"
echo "package.sh: wrote $tarball ($(du -h "$tarball" | cut -f1)): $(cd "$root" && find . -type f | sort | tr '\n' ' ')" >&2

if $check; then
    bash scripts/check-package.sh "$tarball"
fi
echo "$tarball"
