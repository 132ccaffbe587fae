# qtune engine / ls / attach / kill: daemon start, stale socket, unsafe
# socket directory, a second daemon refused, a request stream replayed with
# `attach --raw` (malformed and oversized lines included), kill asking for
# --force when jobs run.  Every daemon started here is stopped at the end.
. tests/cli/lib.sh

export QTUNE_HOME="$T/home" QTUNE_TEST_JOBS=1
RUN="$T/run"
mkdir -p "$QTUNE_HOME" "$RUN"; chmod 700 "$RUN"
export XDG_RUNTIME_DIR="$RUN"
SOCKDIR="$RUN/qtune"

cleanup() {
    for f in "$QTUNE_HOME"/sessions/*/daemon.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    return 0
}
trap cleanup EXIT

# gone PID: the process has exited (zombies count as gone, once every
# thread has exited: a killed multi-threaded leader turns zombie while its
# other threads still hold its files, the listening socket too)
gone() {
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    case "$st" in
    "") return 0;;
    Z|X) [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ] && return 0;;
    esac
    return 1
}
# wait_gone PID / wait_grep FILE PATTERN: wait for the event (lib.sh's
# wait_until: a generous deadline, never a tight fixed time)
wait_gone() { wait_until gone "$1"; }
wait_grep() { wait_until grep -q -- "$2" "$1"; }

# --- start, ls, a second daemon refused
$Q engine --session one >"$T/out" 2>"$T/err"
check engine_starts test $? = 0
check engine_socket test -S "$SOCKDIR/one.sock"
check engine_sockdir_0700 test "$(stat -c %a "$SOCKDIR")" = 700
check engine_pid_file test -s "$QTUNE_HOME/sessions/one/daemon.pid"
P1=$(cat "$QTUNE_HOME/sessions/one/daemon.pid")
# detached: a session of its own (not ours), no controlling terminal
check engine_own_session test "$(ps -o sid= -p "$P1" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')"
check engine_no_tty test "$(ps -o tty= -p "$P1" | tr -d ' ')" = "?"
expect_err engine_second_refused "a daemon already runs" $Q engine --session one
expect_err engine_bad_name "bad session name" $Q engine --session ../x
expect_err engine_usage "usage" $Q engine
$Q ls >"$T/ls" 2>&1
check ls_lists_session grep -q '^one  *up ' "$T/ls"

# --- the documented example session, replayed over the socket
cat >"$T/req" <<REQ
{"id":1,"op":"hello","version":1}
{"id":2,"op":"open","model":"$(pwd)/$M"}
{"id":3,"op":"recipe_set","text":"QuantizationModifier:\n  targets: [Linear]\n  ignore: [lm_head]\n  scheme: W4A16\n"}
{"id":4,"op":"preview","pairs":[["model.layers.1.mlp.experts.3.up_proj.weight","int4-g128-sym"]]}
{"id":5,"op":"undo"}
this is not json
{"id":6,"op":"job_list"}
REQ
$Q attach one --raw <"$T/req" >"$T/resp" 2>"$T/err"
check raw_exit test $? = 0
check raw_hello grep -q '^{"id":1,"ok":true,"result":{"version":1,"session":"one"' "$T/resp"
# hello's capabilities come from the op and job kind tables (issue 12 point 4)
check raw_hello_ops grep -q '^{"id":1,.*"ops":\[{"op":"hello","needs":null,"summary":"' "$T/resp"
check raw_hello_ops_needs grep -q '^{"id":1,.*{"op":"edit","needs":"model","summary":"' "$T/resp"
check raw_hello_job_kinds grep -q '^{"id":1,.*"job_kinds":\[.*{"kind":"plan","runnable":true,"needs_model":true' "$T/resp"
check raw_open grep -q '^{"id":2,"ok":true,"result":{"model":".*tiny-glm-moe","arch":"glm4_moe"' "$T/resp"
check raw_recipe_event grep -q '^{"event":"recipe","seq":1,"version":1,' "$T/resp"
check raw_preview grep -q '^{"id":4,"ok":true,"result":{"results":\[{"name":"model.layers.1.mlp.experts.3.up_proj.weight","scheme":"int4-g128-sym","rel_rmse":0.1118' "$T/resp"
check raw_undo grep -q '^{"id":5,"ok":true,"result":{"text":"","version":0,"can_undo":false,"can_redo":true}}' "$T/resp"
check raw_malformed grep -q '^{"id":null,"ok":false,"error":"request: not a JSON object"}' "$T/resp"
check raw_survives grep -q '^{"id":6,"ok":true,"result":{"jobs":\[\]}}' "$T/resp"
# an oversized line (2 MiB) gets an error and the connection survives
{ echo '{"id":1,"op":"hello","version":1}'
  head -c 2097152 /dev/zero | tr '\0' 'a'; echo
  echo '{"id":2,"op":"session"}'; } | $Q attach one --raw >"$T/big" 2>&1
check raw_oversized grep -q '"ok":false,"error":"request: line longer than 1048576 bytes"' "$T/big"
check raw_after_oversized grep -q '^{"id":2,"ok":true' "$T/big"
# match: what one pattern matches (the pattern prompt's live count)
cat >"$T/mreq" <<'REQ'
{"id":1,"op":"hello","version":1}
{"id":2,"op":"match","pattern":"re:model\\.layers\\.[23]\\.mlp\\.experts\\.","limit":2}
{"id":3,"op":"match","pattern":"re:(x"}
{"id":4,"op":"resolve","compact":true,"offset":270,"limit":5}
REQ
$Q attach one --raw <"$T/mreq" >"$T/mresp" 2>"$T/err"
check raw_match grep -q '^{"id":2,"ok":true,"result":{"modules":96,"names":\["model.layers.2.mlp.experts.0.gate_proj","model.layers.2.mlp.experts.0.up_proj"\]}}' "$T/mresp"
check raw_match_bad_regex grep -q '^{"id":3,"ok":false,"error":"pattern '"'"'re:(x'"'"': missing closing parenthesis' "$T/mresp"
check raw_resolve_compact grep -q '^{"id":4,"ok":true,"result":{"count":279,"offset":270,"schemes":\["bf16"\],"s":\[0,0,0,0,0\],"p":\[-1,-1,-1,-1,-1\],"b":\[' "$T/mresp"

# preview with calibration statistics: before a calib job the request says
# to run one (never a forward pass in the daemon); after it rel_out appears
CAL="$(pwd)/share/data/calib.txt"
$Q engine --session cal 2>"$T/err"
check engine_cal_starts test $? = 0
OPEN=$(printf '{"id":0,"op":"open","model":"%s"}' "$(pwd)/$M")
PV='"pairs":[["model.layers.1.mlp.experts.3.up_proj.weight","int4-g128-sym"]]'
printf '{"id":1,"op":"hello","version":1}\n%s\n{"id":2,"op":"preview",%s,"calib":"%s"}\n' "$OPEN" "$PV" "$CAL" |
    $Q attach cal --raw >"$T/cresp" 2>"$T/err"
check raw_preview_calib_missing grep -q '^{"id":2,"ok":false,"error":"preview: calib: .*calib.txt: no calibration statistics of this model cached"' "$T/cresp"
printf '{"id":1,"op":"hello","version":1}\n{"id":2,"op":"job_submit","kind":"calib","params":{"calib":"relative.txt"}}\n{"id":3,"op":"job_submit","kind":"calib","params":{"calib":"%s"}}\n' "$CAL" |
    $Q attach cal --raw >"$T/cresp" 2>"$T/err"
# a relative path is the client's, not the daemon's (issue 18.8)
check raw_calib_relative_is_clients grep -q "^{\"id\":2,\"ok\":false,\"error\":\"job_submit: calib: $(pwd)/relative.txt: cannot read it\"" "$T/cresp"
CJ=$(sed -n 's/^{"id":3,"ok":true,"result":{"job":{"id":\([0-9]*\),"kind":"calib".*/\1/p' "$T/cresp")
check raw_calib_submitted test -n "$CJ"
# a calibration pass: up to 2 minutes on a loaded 2-core machine
check raw_calib_done wait_grep "$QTUNE_HOME/sessions/cal/jobs/$CJ/job.json" '"state":.*"done"' 6000
check raw_calib_report grep -q '"tokens":[[:space:]]*8192' "$QTUNE_HOME/sessions/cal/jobs/$CJ/report.json"
printf '{"id":1,"op":"hello","version":1}\n{"id":2,"op":"preview",%s,"calib":"%s"}\n{"id":3,"op":"preview",%s}\n' \
    "$PV" "$CAL" "$PV" | $Q attach cal --raw >"$T/cresp" 2>"$T/err"
check raw_preview_calib grep -q '^{"id":2,"ok":true,.*"rel_out":0\.11' "$T/cresp"
check raw_preview_no_calib sh -c "grep '^{\"id\":3,\"ok\":true' '$T/cresp' | grep -qv rel_out"
# ls names what the recipe does (algorithm and scheme), not its first line
printf '{"id":1,"op":"hello","version":1}\n{"id":2,"op":"recipe_set","text":"quant_stage:\\n  quant_modifiers:\\n    GPTQModifier:\\n      targets: [Linear]\\n      ignore: [lm_head]\\n      scheme: W4A16\\n"}\n' |
    $Q attach cal --raw >"$T/cresp" 2>"$T/err"
$Q ls >"$T/ls" 2>&1
check ls_recipe_name grep -q '^cal  *up  .* v1 GPTQ W4A16 ' "$T/ls"
check ls_recipe_not_stage sh -c "! grep -q 'quant_stage:' '$T/ls'"
$Q kill cal >/dev/null 2>&1

# --- a stale socket (daemon killed) is removed by the next daemon
kill -9 "$P1"; wait_gone "$P1"
check stale_left_behind test -S "$SOCKDIR/one.sock"
expect_err attach_no_daemon "no engine daemon runs" $Q attach one --no-start --no-follow
$Q engine --session one 2>"$T/err"
check stale_restart test $? = 0
check stale_logged grep -q "removing stale socket" "$QTUNE_HOME/sessions/one/daemon.log"
$Q attach one --no-start --no-follow >"$T/att" 2>&1
check attach_state grep -q '^session one  engine pid [0-9]*  model .*tiny-glm-moe  recipe v0' "$T/att"
# the device the jobs compute on (hello's "device", from the engine's probe):
# attach prints its summary once the probe has answered
dev_known() { $Q attach one --no-start --no-follow 2>/dev/null | grep -q '^device: .* [0-9.]*/[0-9.]* GiB free$'; }
check attach_device wait_until dev_known
printf '%s\n' '{"id":1,"op":"hello","version":1}' | $Q attach one --raw >"$T/hello" 2>&1
check hello_device grep -q '"device":{"backend":"\(cpu\|cuda\)","name":"[^"]*","cores":[0-9]*,.*"mem_total":[0-9]*,"mem_free":[0-9]*,"summary":"' "$T/hello"

# --- kill: refuses without --force when a job runs and stdin is no tty
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    '{"id":2,"op":"job_submit","kind":"test","params":{"steps":5000,"step_ms":20}}' |
    $Q attach one --raw >"$T/sub" 2>&1
check job_submitted grep -q '^{"id":2,"ok":true,"result":{"job":{"id":1,"kind":"test"' "$T/sub"
check job_running wait_grep "$QTUNE_HOME/sessions/one/jobs/1/job.json" '"state":.*"running"'
$Q ls >"$T/ls" 2>&1
check ls_running_job grep -q '^one  *up .*#1 test running' "$T/ls"
$Q ls --json >"$T/ls.json" 2>&1
check ls_json grep -q '"daemon":[[:space:]]*true' "$T/ls.json"
expect_err kill_needs_force "use --force" $Q kill one </dev/null
check kill_left_running test -S "$SOCKDIR/one.sock"
P2=$(cat "$QTUNE_HOME/sessions/one/daemon.pid")
$Q kill one --force >"$T/out" 2>&1
check kill_force grep -q "stopped session one" "$T/out"
check kill_gone wait_gone "$P2"
check kill_socket_removed test ! -e "$SOCKDIR/one.sock"
check kill_job_cancelled grep -q '"state":[[:space:]]*"cancelled"' "$QTUNE_HOME/sessions/one/jobs/1/job.json"
$Q ls >"$T/ls" 2>&1
check ls_down grep -q '^one  *- ' "$T/ls"
expect_err kill_none "no engine daemon runs" $Q kill one
# attach starts a daemon when none runs, and replays events on request
$Q attach one --no-follow --since 0 >"$T/att" 2>&1
check attach_starts grep -q '^session one  engine pid' "$T/att"
check attach_replay grep -q '^\[1\] recipe: version 1' "$T/att"
check attach_replay_job grep -q 'job 1 (test): cancelled' "$T/att"
$Q kill one >/dev/null 2>&1

# --- attach never creates a session: an unknown name is a one-line error
expect_err attach_unknown "attach nosuch: no such session (qtune ls lists sessions)" $Q attach nosuch --no-follow
$Q attach nosuch --no-follow >/dev/null 2>&1
check attach_unknown_exit1 test $? = 1
check attach_unknown_one_line test "$(wc -l <"$T/err")" = 1
expect_err attach_unknown_raw "no such session" $Q attach nosuch --raw </dev/null
check attach_unknown_no_dir test ! -e "$QTUNE_HOME/sessions/nosuch"
$Q ls >"$T/ls" 2>&1
check attach_unknown_not_listed sh -c "! grep -q '^nosuch' '$T/ls'"

# --- an unsafe socket directory is refused
BAD="$T/badrun"; mkdir -p "$BAD/qtune"; chmod 755 "$BAD/qtune"
XDG_RUNTIME_DIR="$BAD" expect_err sockdir_mode "mode 0755, want 0700" $Q engine --session two
XDG_RUNTIME_DIR="$BAD" expect_err sockdir_mode_attach "want 0700" $Q attach one --no-follow
check sockdir_no_session test ! -e "$QTUNE_HOME/sessions/two"
rmdir "$BAD/qtune"; mkdir -p "$T/elsewhere"; chmod 700 "$T/elsewhere"; ln -s "$T/elsewhere" "$BAD/qtune"
XDG_RUNTIME_DIR="$BAD" expect_err sockdir_symlink "not a directory" $Q engine --session two
rm "$BAD/qtune"
if [ "$(id -u)" = 0 ]; then
    mkdir -m 700 "$BAD/qtune"; chown 12345 "$BAD/qtune"
    XDG_RUNTIME_DIR="$BAD" expect_err sockdir_owner "owned by uid 12345" $Q engine --session two
fi

# --- no daemon left behind
left=0
for f in "$QTUNE_HOME"/sessions/*/daemon.pid; do
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=1
done
check no_daemon_left test $left = 0
