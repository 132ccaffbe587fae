#!/bin/sh
# Runs every unit test binary and every CLI/screen test script; each prints
# lines "PASS name" / "FAIL name".  A binary or script that dies without
# reporting counts as one failure.  Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
: "${QTUNE_BIN:=build/qtune}"
: "${QTUNE_TESTBIN:=build/tests}"
export QTUNE_BIN QTUNE_ROOT="$(pwd)"
OUT=tests/out
rm -rf "$OUT"; mkdir -p "$OUT"
# Scratch space (sessions, sockets, written checkpoints) lives under a short
# /tmp path: a unix socket path must fit in 108 bytes whatever the checkout's
# path.  Logs stay in tests/out.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/qtune-test.XXXXXX") || exit 1
export QTUNE_TEST_OUT="$SCRATCH"
export QTUNE_HOME="$SCRATCH/home"
export XDG_RUNTIME_DIR="$SCRATCH/run"
# The suite's figures and goldens are the bf16 arithmetic's (llm-compressor
# on the CPU, what its reference checkpoints were written with): every test
# runs it unless it asks for --arith f32 itself (test_arith, test_arith.sh).
# Users get f32 by default (quant.h).
export QTUNE_ARITH=bf16
mkdir -p "$QTUNE_HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
pass=0; fail=0; skip=0
# A check that cannot run here (no chromium, no GPU) prints "SKIP name: why";
# skips are counted and shown, never counted as passes.
run_one() { # run_one NAME CMD...
    name=$1; shift
    log="$OUT/$name.log"
    "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL $name (exit $rc)" >>"$log"; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" != 0 ]; then
        echo "--- $name: $p passed, $f failed"; grep -v '^PASS ' "$log" | tail -n 40
    else
        echo "--- $name: $p passed$( [ "$s" != 0 ] && echo ", $s skipped")"
        [ "$s" != 0 ] && grep '^SKIP ' "$log"
    fi
    return 0
}
filter=${QTUNE_TEST_FILTER:-}
for t in "$QTUNE_TESTBIN"/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    case "$n" in *"$filter"*) ;; *) continue;; esac
    run_one "$n" "$t"
done
for t in tests/cli/test_*.sh; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .sh)
    case "$n" in *"$filter"*) ;; *) continue;; esac
    run_one "$n" sh "$t"
done
if [ "$fail" = 0 ]; then rm -rf "$SCRATCH"; else echo "scratch kept in $SCRATCH"; fi
[ "$skip" != 0 ] && echo "$skip skipped (the SKIP lines above say why)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
