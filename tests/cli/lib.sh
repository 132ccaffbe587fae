# Helpers for CLI test scripts: source this, then call ok/fail/expect_*.
# Every check prints "PASS name" or "FAIL name" for tests/run.sh to count.
set -u
Q=${QTUNE_BIN:-build/qtune}
T=${QTUNE_TEST_OUT:-/tmp/qtune-test}/$(basename "$0" .sh).d
rm -rf "$T"; mkdir -p "$T"
M=share/models/tiny-glm-moe
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; }
# check NAME CONDITION-COMMAND...: passes when the command succeeds
check() { n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
# expect_err NAME PATTERN CMD...: the command must fail (non-zero, no signal)
# and print one line on stderr matching PATTERN
expect_err() {
    n=$1; pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" = 0 ]; then fail "$n" "exit 0"; return; fi
    if [ "$rc" -ge 128 ]; then fail "$n" "killed by signal $((rc-128))"; return; fi
    if grep -q -- "$pat" "$T/err"; then pass "$n"; else fail "$n" "stderr: $(head -c 300 "$T/err")"; fi
}
# wait_until CMD...: polls CMD until it succeeds, for at most
# $QTUNE_TEST_WAIT seconds (default 300: generous, since the machine running
# the suite may be loaded); fails once the deadline passes.  Tests wait for
# the event this way, never for a fixed time.
wait_until() {
    deadline=$(( $(date +%s) + ${QTUNE_TEST_WAIT:-300} ))
    while ! "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
    return 0
}
# script_in DIR: a TUI script from stdin with each word-initial D/ (":dump
# D/x.txt") made DIR/; a D/ inside a word is left alone, so a scratch path
# that happens to end in D (mktemp's XXXXXX) is typed as it is.
script_in() { sed -E "s#(^|[[:space:]])D/#\\1$1/#g"; }
# kl FILE: the KL mean of an eval --json answer (kld_mean or mean)
kl() { sed -n 's/.*"kld_mean":[[:space:]]*\([0-9.e+-]*\).*/\1/p; s/.*"mean":[[:space:]]*\([0-9.e+-]*\).*/\1/p' "$1" | head -1; }
