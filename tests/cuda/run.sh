#!/bin/sh
# make test-cuda: the CUDA backend against the CPU backend, on a GPU machine.
# Runs build/tests/test_cuda and tests/cuda/test_*.sh; each prints PASS/FAIL
# lines (or one SKIP line without a GPU).  Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
: "${QTUNE_BIN:=build/qtune}"
: "${QTUNE_TESTBIN:=build/tests}"
export QTUNE_BIN QTUNE_ROOT="$(pwd)"
OUT=tests/out/cuda
rm -rf "$OUT"; mkdir -p "$OUT"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/qtune-cuda.XXXXXX") || exit 1
export QTUNE_TEST_OUT="$SCRATCH" QTUNE_HOME="$SCRATCH/home"
mkdir -p "$QTUNE_HOME"
pass=0; fail=0
one() { # one NAME CMD...
    name=$1; shift
    "$@" >"$OUT/$name.log" 2>&1; rc=$?
    p=$(grep -c '^PASS ' "$OUT/$name.log"); f=$(grep -c '^FAIL ' "$OUT/$name.log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL $name (exit $rc)" >>"$OUT/$name.log"; fi
    pass=$((pass + p)); fail=$((fail + f))
    echo "--- $name: $p passed, $f failed"; grep -v '^PASS ' "$OUT/$name.log" | tail -n 40
}
one test_cuda "$QTUNE_TESTBIN/test_cuda"
for t in tests/cuda/test_*.sh; do one "$(basename "$t" .sh)" sh "$t"; done
rm -rf "$SCRATCH"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
