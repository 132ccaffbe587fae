#!/bin/sh
# Builds every fuzz harness with clang's libFuzzer (+ ASan, UBSan) and runs
# each for $FUZZ_SECONDS (default 60) on a copy of its seed corpus, replaying
# the regression inputs first.  A crash leaves its input in
# build-fuzz/crash/NAME/ and fails; the last line per harness says how many
# executions ran.  Usage: sh scripts/fuzz.sh NAME...  (make fuzz)
# FUZZ_RUNS=N (with FUZZ_SEED, default 1) bounds each harness by a count of
# executions from a fixed seed instead: what CI runs, so that its verdict is
# the same on every run of the same tree (FUZZ_SECONDS still caps the time).
set -u
cd "$(dirname "$0")/.."
: "${FUZZ_SECONDS:=60}"
B=build-fuzz
CLANG=${FUZZ_CC:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "qtune: fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1
fi
rt=$("$CLANG" -print-runtime-dir 2>/dev/null)
if ! ls "$rt"/libclang_rt.fuzzer*.a >/dev/null 2>&1 && ! ls "$rt"/../*/libclang_rt.fuzzer*.a >/dev/null 2>&1; then
    echo "qtune: fuzz: no libFuzzer runtime under $rt (apt-get install libclang-rt-14-dev)" >&2; exit 1
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# the engine library (no CUDA backend), instrumented for coverage but without
# libFuzzer's main
make -s BUILD=$B CC="$CLANG" NVCC= OPT="-O1 -g" SANITIZE="$SAN -fsanitize=fuzzer-no-link" $B/libqtengine.a || exit 1
flags=$(pkg-config --cflags --libs ncursesw openblas libcjson yaml-0.1 libpcre2-8)
export QTUNE_ROOT="$(pwd)"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" UBSAN_OPTIONS="print_stacktrace=1"
fails=0
summary=""
for name in "$@"; do
    bin=$B/fuzz_$name
    # shellcheck disable=SC2086
    "$CLANG" -Iengine -I. -Itests/fuzz -D_GNU_SOURCE -O1 -g $SAN -fsanitize=fuzzer -std=gnu11 -pthread \
        -o "$bin" tests/fuzz/fuzz_$name.c $B/libqtengine.a $flags -lm -lpthread || { fails=$((fails+1)); continue; }
    corpus=$B/corpus/$name; crash=$B/crash/$name
    mkdir -p "$corpus" "$crash"
    cp tests/fuzz/corpus/$name/* "$corpus"/ 2>/dev/null
    if [ -d tests/fuzz/regress/$name ] && ls tests/fuzz/regress/$name/* >/dev/null 2>&1; then
        "$bin" -runs=0 tests/fuzz/regress/$name/* >"$B/$name.regress.log" 2>&1 ||
            { echo "qtune: fuzz $name: a regression input fails again (see $B/$name.regress.log)" >&2; fails=$((fails+1)); }
    fi
    runs=""
    [ -n "${FUZZ_RUNS:-}" ] && runs="-runs=$FUZZ_RUNS -seed=${FUZZ_SEED:-1}"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" $runs -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
        -artifact_prefix="$crash/" -print_final_stats=1 "$corpus" >"$B/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/$name.log" | tail -n 1)
    line="fuzz $name: ${execs:-?} executions in ${secs} s, $(ls "$corpus" | wc -l) corpus inputs"
    if [ $rc != 0 ]; then line="$line, FAILED (rc $rc; $B/$name.log, inputs in $crash/)"; fails=$((fails+1)); fi
    echo "$line"
    summary="$summary$line
"
done
printf '%s' "$summary" >"$B/summary.txt"
[ $fails = 0 ]
