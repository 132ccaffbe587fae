#!/bin/sh
# Quitting while a job runs (issue 17 point 10): the client asks the daemon
# to stop when idle (shutdown {when_idle}); the daemon finishes the job and
# stops once it has had no client for QTUNE_IDLE_GRACE seconds; a client
# that attaches meanwhile keeps it up.  Every daemon started here is stopped.
. tests/cli/lib.sh
export QTUNE_HOME="$T/home" QTUNE_TEST_JOBS=1 QTUNE_IDLE_GRACE=1
RUN="$T/run"
mkdir -p "$QTUNE_HOME" "$RUN"; chmod 700 "$RUN"
export XDG_RUNTIME_DIR="$RUN"
cleanup() {
    for f in "$QTUNE_HOME"/sessions/*/daemon.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    return 0
}
trap cleanup EXIT
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
wait_grep() { wait_until grep -q -- "$2" "$1"; }

# a job of 100 x 30 ms, then shutdown when idle, then the client leaves
$Q engine --session idl >/dev/null 2>&1
P=$(cat "$QTUNE_HOME/sessions/idl/daemon.pid")
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    '{"id":2,"op":"job_submit","kind":"test","params":{"steps":100,"step_ms":30}}' \
    '{"id":3,"op":"shutdown","when_idle":true}' |
    $Q attach idl --raw >"$T/raw" 2>&1
check "idle: shutdown when idle is deferred while the job runs" \
    grep -q '^{"id":3,"ok":true,"result":{"deferred":1,"grace":1}' "$T/raw"
check "idle: the job runs to its end" wait_grep "$QTUNE_HOME/sessions/idl/jobs/1/job.json" '"state":.*"done"'
check "idle: then the daemon stops by itself" wait_until gone "$P"
check "idle: and says why in its log" grep -q 'idle with no client for 1 s after the last job: stopping' \
    "$QTUNE_HOME/sessions/idl/daemon.log"

# a plain shutdown is still refused while a job runs; a client that works
# on the session after shutdown {when_idle} (a job, an edit) keeps the
# daemon; looking (ls) does not
$Q engine --session idl2 >/dev/null 2>&1
P=$(cat "$QTUNE_HOME/sessions/idl2/daemon.pid")
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    '{"id":2,"op":"job_submit","kind":"test","params":{"steps":100000,"step_ms":30}}' \
    '{"id":3,"op":"shutdown"}' '{"id":4,"op":"shutdown","when_idle":true}' |
    $Q attach idl2 --raw >"$T/raw2" 2>&1
check "idle: plain shutdown refused while a job runs" grep -q '^{"id":3,"ok":false' "$T/raw2"
$Q ls >/dev/null 2>&1
check "idle: ls does not cancel the stop" sh -c "! grep -q 'the shutdown when idle is off' '$QTUNE_HOME/sessions/idl2/daemon.log'"
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_submit","kind":"test","params":{"steps":3,"step_ms":30}}' |
    $Q attach idl2 --raw >/dev/null 2>&1
check "idle: a new job cancels the stop" grep -q 'job_submit: the shutdown when idle is off' "$QTUNE_HOME/sessions/idl2/daemon.log"
$Q ls >"$T/ls" 2>&1
check "idle: the daemon kept running" grep -q '^idl2  *up ' "$T/ls"
$Q kill idl2 --force >/dev/null 2>&1
