#!/bin/sh
# CI's compile-only check of the CUDA backend (issue 14 point 6): CI has no
# GPU and no CUDA toolkit, so this fetches NVIDIA's nvcc and the headers of
# the CUDA runtime, cuBLAS and cuSOLVER from the Python package registry
# (the wheels NVIDIA publishes there; nothing is installed system-wide) and
# compiles engine/backend/cuda/*.cu with the flags `make` uses.  Nothing is
# linked and nothing runs: what it proves is that the sources compile, so a
# change to a shared header cannot break the GPU build unnoticed.
#
# Exit 0 when every file compiles, 1 when one does not; a toolkit that
# cannot be fetched (no pip, no network) is one SKIP line and exit 0: that
# is outside the project.  The versions are those of the toolkit the
# backend was developed with (CUDA 13.0).
set -u
cd "$(dirname "$0")/../.."
D=${QTUNE_NVCC_DIR:-${TMPDIR:-/tmp}/qtune-nvcc}
skip() { echo "SKIP cuda compile check: $*"; exit 0; }
have_pip() { command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; }
if ! have_pip; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip; } >/dev/null 2>&1 ||
            skip "python3-pip could not be installed"
    fi
    have_pip || skip "no pip (python3 -m pip) to fetch the CUDA wheels with"
fi
PY=python3
T="$D/cu13"
if [ ! -x "$T/bin/nvcc" ]; then
    rm -rf "$D"; mkdir -p "$D/whl" || skip "cannot create $D"
    "$PY" -m pip download -q --no-deps -d "$D/whl" \
        nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
        nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 \
        nvidia-cublas==13.0.2.14 nvidia-cusolver==12.0.4.66 >"$D/pip.log" 2>&1 ||
        skip "the CUDA wheels could not be fetched ($(tail -n 1 "$D/pip.log"))"
    # the wheels share one prefix, nvidia/cu13 (bin, include, nvvm, lib):
    # nvcc finds its headers and cicc from its own place; the libraries'
    # .so files are not needed to compile
    "$PY" - "$D" <<'EOF' || skip "the CUDA wheels could not be unpacked"
import sys, zipfile, glob, os
d = sys.argv[1]
for w in sorted(glob.glob(os.path.join(d, "whl", "*.whl"))):
    with zipfile.ZipFile(w) as z:
        for n in z.namelist():
            if not n.startswith("nvidia/cu13/") or n.endswith("/"):
                continue
            if "/lib/" in n and not n.startswith("nvidia/cu13/nvvm/"):
                continue
            out = os.path.join(d, n[len("nvidia/"):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(n) as src, open(out, "wb") as dst:
                dst.write(src.read())
            if "/bin/" in n:
                os.chmod(out, 0o755)
EOF
    rm -rf "$D/whl"
fi
[ -x "$T/bin/nvcc" ] || skip "no nvcc in the fetched wheels"
"$T/bin/nvcc" --version | tail -n 1
mkdir -p "$D/obj"
fail=0
for f in engine/backend/cuda/*.cu; do
    # the Makefile's flags (NVFLAGS and -fmad=false), PTX only: ptxas's
    # machine code adds time and nothing to a compile check
    if "$T/bin/nvcc" -Iengine -I. -D_GNU_SOURCE -O3 -std=c++17 -arch=compute_90 -code=compute_90 \
        -Xcompiler -Wall -fmad=false -c -o "$D/obj/$(basename "$f" .cu).o" "$f" >"$D/obj/$(basename "$f").log" 2>&1 &&
        ! grep -q -i 'warning' "$D/obj/$(basename "$f").log"; then
        echo "PASS nvcc $f"
    else
        echo "FAIL nvcc $f"; cat "$D/obj/$(basename "$f").log"; fail=1
    fi
done
[ "$fail" = 0 ]
