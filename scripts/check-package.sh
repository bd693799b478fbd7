#!/usr/bin/env bash
# Runs a tarball from scripts/package.sh in a bare Debian 12 (debootstrap --variant=minbase:
# no Swift toolchain, no OpenBLAS, no OpenCL): `aligncl devices` must find the bundled loader
# and no platform, a tiny model must train on the CPU path, and `aligncl op gemm` must give the
# right product. The chroot is made once and kept (ALIGNCL_BARE_ROOT, default
# /var/cache/aligncl/bare-bookworm). Needs root.
#
#   scripts/check-package.sh dist/aligncl-<version>-linux-x86_64.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:?usage: scripts/check-package.sh TARBALL}
[[ -f "$tarball" ]] || { echo "check-package.sh: no tarball at $tarball" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || { echo "check-package.sh: needs root (debootstrap and chroot)" >&2; exit 1; }
root=${ALIGNCL_BARE_ROOT:-/var/cache/aligncl/bare-bookworm}
if [[ ! -x "$root/bin/sh" ]]; then
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
    rm -rf "$root.partial"
    mkdir -p "$(dirname "$root")"
    echo "check-package.sh: debootstrap --variant=minbase bookworm into $root (once, about a minute)" >&2
    debootstrap --variant=minbase bookworm "$root.partial" http://deb.debian.org/debian >/dev/null
    mv "$root.partial" "$root"
fi
for absent in /opt/swift /usr/lib/x86_64-linux-gnu/libopenblas.so.0 /usr/lib/x86_64-linux-gnu/libOpenCL.so.1; do
    [[ ! -e "$root$absent" ]] || { echo "check-package.sh: $root is not bare ($absent exists)" >&2; exit 1; }
done

work=$(mktemp -d "$root/tmp/package-XXXXXX")
inside=${work#"$root"}
mounted=false
cleanup() { $mounted && umount "$root/proc" || true; rm -rf "$work"; }
trap cleanup EXIT
if mount -t proc proc "$root/proc" 2>/dev/null; then mounted=true; fi
tar -C "$work" -xzf "$tarball"
aligncl=$(cd "$work" && ls -d aligncl-*/bin/aligncl)
run() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root "$inside/$aligncl" "$@"; }

devices=$(run devices 2>&1) || true
grep -q "no OpenCL platform" <<<"$devices" || { echo "$devices" >&2; echo "check-package.sh: the bundled ICD loader did not load" >&2; exit 1; }
grep -q "CPU path: host CPU" <<<"$devices" || { echo "$devices" >&2; exit 1; }

run train --recipe itc-itm --steps 3 --batch-size 8 --train-samples 32 --eval-samples 16 --width 16 --heads 2 --text-layers 1 \
    --image-layers 1 --image-size 16 --projection 8 --run-dir "$inside/run" >/dev/null 2>"$work/train.err" \
    || { cat "$work/train.err" >&2; echo "check-package.sh: training in the bare chroot failed" >&2; exit 1; }
grep -q "backend auto → cpu" "$work/train.err" || { cat "$work/train.err" >&2; echo "check-package.sh: training did not say it ran on the CPU path" >&2; exit 1; }

# a = [[1, 2], [3, 4]], b = [[5, 6], [7, 8]] as .npy (float32), written with the standard library.
python3 - "$work" <<'PY'
import struct, sys
def save(path, values, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    header = header.ljust(117) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<%df" % len(values), *values))
save(sys.argv[1] + "/a.npy", [1, 2, 3, 4], (2, 2))
save(sys.argv[1] + "/b.npy", [5, 6, 7, 8], (2, 2))
PY
run op gemm --input "a=$inside/a.npy" --input "b=$inside/b.npy" --output-dir "$inside/out" 2>"$work/op.err" \
    || { cat "$work/op.err" >&2; echo "check-package.sh: aligncl op in the bare chroot failed" >&2; exit 1; }
python3 - "$work/out/c.npy" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
length = struct.unpack("<H", data[8:10])[0]
values = struct.unpack("<4f", data[10 + length:])
assert values == (19, 22, 43, 50), values
PY
echo "check-package.sh: $(basename "$tarball") ran in a bare Debian 12 chroot: devices, a 3-step training run, op gemm" >&2
