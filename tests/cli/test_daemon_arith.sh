# The arithmetic mode (f32 | bf16, DESIGN §4) is one setting of the
# session, owned by its daemon: hello and settings name it (the daemon's
# own default until the session chooses), the preview op computes in it
# (its cache keyed by mode), job_submit records it in the params of every
# job that rounds weights (quantize, eval of a recipe, sensitivity, plan;
# not calib, which measures the original model) and the worker runs in
# it, a re-commit under another mode does not continue the old mode's
# layers, and the choice survives a new daemon (a re-attach).
. tests/cli/lib.sh

export QTUNE_HOME="$T/home"
unset QTUNE_ARITH   # the daemon's default is then f32
RUN="$T/run"
mkdir -p "$QTUNE_HOME" "$RUN"; chmod 700 "$RUN"
export XDG_RUNTIME_DIR="$RUN"
S="$QTUNE_HOME/sessions/ar"
cleanup() { [ -f "$S/daemon.pid" ] && kill -9 "$(cat "$S/daemon.pid")" 2>/dev/null; return 0; }
trap cleanup EXIT
gone() { [ ! -d "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]; }
# raw FILE LINE...: one connection, hello first, the lines as requests
raw() { f=$1; shift; printf '%s\n' '{"id":0,"op":"hello","version":1}' "$@" | $Q attach ar --raw >"$f" 2>&1; }
# reply FILE ID: the reply line of request ID, spaces dropped
reply() { grep "\"id\":$2,\"ok\"" "$1"; }
# rhas FILE ID PATTERN: that reply matches PATTERN (grep's basic regex)
rhas() { reply "$1" "$2" | grep -q -- "$3"; }
TN=model.layers.1.mlp.experts.3.up_proj.weight
PV="{\"id\":2,\"op\":\"preview\",\"pairs\":[[\"$TN\",\"int8-ch-sym\"]]}"
RR=recipes/tiny-w4a16.yaml
RT=$(sed ':a;N;$!ba;s/\\/\\\\/g;s/"/\\"/g;s/\n/\\n/g' "$RR")
E=$(pwd)/share/data/eval.txt

$Q engine --session ar >/dev/null 2>&1
raw "$T/h1" "{\"id\":1,\"op\":\"open\",\"model\":\"$(pwd)/$M\"}" "$PV"
check arith_hello_default_f32 sh -c "grep '\"id\":0,' '$T/h1' | tr -d ' ' | grep -q '\"settings\":{[^}]*\"arith\":\"f32\"'"
reply "$T/h1" 2 | sed 's/"cached":[a-z]*//' >"$T/p.f32"
check arith_preview_f32 grep -q '"rel_rmse"' "$T/p.f32"

# the session chooses bf16: the answer and the event say so, the preview
# is computed again in it (not the f32 figure from the cache)
raw "$T/s1" '{"id":1,"op":"settings","set":{"arith":"bf16"}}' "$PV"
check arith_settings_reply rhas "$T/s1" 1 '"arith":"bf16"'
check arith_settings_event sh -c "grep '\"event\":\"settings\"' '$T/s1' | tr -d ' ' | grep -q '\"arith\":\"bf16\"'"
check arith_preview_not_cached rhas "$T/s1" 2 '"cached":false'
reply "$T/s1" 2 | sed 's/"cached":[a-z]*//' >"$T/p.bf16"
check arith_preview_follows_the_session sh -c "! cmp -s '$T/p.f32' '$T/p.bf16'"
# the same figure as the CLI in that mode
cli=$($Q preview $M --scheme int8-ch-sym --arith bf16 --filter 'layers\.1\.mlp\.experts\.3\.up_proj' --json |
    tr -d ' \t\n' | sed -n 's/.*"rel_rmse":\([0-9.e-]*\).*"total".*/\1/p')
check arith_preview_as_cli grep -q "\"rel_rmse\":$cli," "$T/p.bf16"
raw "$T/s2" '{"id":1,"op":"settings","set":{"arith":"fp16"}}'
check arith_settings_bad_mode rhas "$T/s2" 1 '"error":"settings: arith: fp16 is not an arithmetic mode'

# jobs: the session's mode in the params, the report says it, the result
# is the CLI's in that mode; an explicit params.arith wins
raw "$T/j1" "{\"id\":1,\"op\":\"job_submit\",\"kind\":\"quantize\",\"text\":\"$RT\",\"params\":{\"out\":\"$T/q1\"}}" \
    "{\"id\":2,\"op\":\"job_submit\",\"kind\":\"eval\",\"text\":\"$RT\",\"params\":{\"data\":\"$E\",\"ctx\":64,\"chunks\":1}}" \
    "{\"id\":3,\"op\":\"job_submit\",\"kind\":\"eval\",\"text\":\"$RT\",\"params\":{\"data\":\"$E\",\"ctx\":64,\"chunks\":1,\"arith\":\"f32\"}}" \
    "{\"id\":4,\"op\":\"job_submit\",\"kind\":\"calib\",\"params\":{\"calib\":\"$E\"}}" \
    "{\"id\":5,\"op\":\"job_submit\",\"kind\":\"eval\",\"text\":\"$RT\",\"params\":{\"data\":\"$E\",\"arith\":\"int4\"}}"
check arith_quantize_params rhas "$T/j1" 1 '"params":{[^}]*"arith":"bf16"'
check arith_eval_params rhas "$T/j1" 2 '"params":{[^}]*"arith":"bf16"'
check arith_eval_params_explicit rhas "$T/j1" 3 '"params":{[^}]*"arith":"f32"'
rhas "$T/j1" 4 '"kind":"calib"' && ! rhas "$T/j1" 4 arith && pass arith_calib_params_none || fail arith_calib_params_none
check arith_job_bad_mode rhas "$T/j1" 5 '"error":"job_submit: params.arith: int4 is not an arithmetic mode'
for j in 1 2 3 4; do wait_until test -s "$S/jobs/$j/report.json"; done
check arith_quantize_report grep -q '"arith":[[:space:]]*"bf16"' "$T/q1/qtune-report.json"
$Q quantize $M -r $RR -o "$T/c1" --arith bf16 >/dev/null 2>&1
check arith_quantize_as_cli cmp "$T/q1/model.safetensors" "$T/c1/model.safetensors"
check arith_eval_report grep -q '"arith":[[:space:]]*"bf16"' "$S/jobs/2/report.json"
check arith_eval_report_explicit grep -q '"arith":[[:space:]]*"f32"' "$S/jobs/3/report.json"
kl() { tr -d ' \t\n' <"$1" | sed -n 's/.*"kld":{"mean":\([0-9.e-]*\).*/\1/p'; }
$Q eval $M -r $RR --data $E --ctx 64 --chunks 1 --arith bf16 --json >"$T/cb.json" 2>/dev/null
check arith_eval_as_cli test "$(kl "$S/jobs/2/report.json")" = "$(kl "$T/cb.json")"
check arith_eval_modes_differ test "$(kl "$S/jobs/2/report.json")" != "$(kl "$S/jobs/3/report.json")"

# a new daemon of the session (a re-attach) keeps the choice; null goes
# back to the daemon's default
dp=$(cat "$S/daemon.pid"); kill -9 "$dp"; wait_until gone "$dp"
$Q engine --session ar >/dev/null 2>&1
raw "$T/h2" '{"id":1,"op":"settings"}'
check arith_survives_new_daemon sh -c "grep '\"id\":0,' '$T/h2' | tr -d ' ' | grep -q '\"settings\":{[^}]*\"arith\":\"bf16\"'"
raw "$T/s3" '{"id":1,"op":"settings","set":{"arith":null}}'
check arith_null_is_default rhas "$T/s3" 1 '"arith":"f32"'
check arith_default_not_stored sh -c "! grep -q arith '$S/settings.json'"
raw /dev/null '{"id":1,"op":"shutdown","force":true}'
