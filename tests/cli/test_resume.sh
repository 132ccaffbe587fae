# A calibrated quantize job interrupted the hard way (daemon and worker
# killed, as by a reboot) continues after its last finished layer: once by
# job_resume, once more by submitting the same recipe again (a re-commit);
# the checkpoint is byte-identical to an uninterrupted run.  The job is held
# after each finished layer while $QTUNE_TEST_QUANTIZE_HOLD exists (test
# builds only), so the kill lands at a known point without timing.
. tests/cli/lib.sh

export QTUNE_HOME="$T/home" QTUNE_TEST_JOBS=1 QTUNE_TEST_QUANTIZE_HOLD="$T/hold"
RUN="$T/run"
mkdir -p "$QTUNE_HOME" "$RUN"; chmod 700 "$RUN"
export XDG_RUNTIME_DIR="$RUN"
S="$QTUNE_HOME/sessions/rs"
cleanup() {
    [ -f "$S/daemon.pid" ] && kill -9 "$(cat "$S/daemon.pid")" 2>/dev/null
    for p in $(sed -n 's/.*worker pid \([0-9]*\).*/\1/p' "$S/daemon.log" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    return 0
}
trap cleanup EXIT
gone() { [ ! -d "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]; }
C=$(pwd)/share/data/calib.txt
printf 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head, "re:.*mlp\\\\.gate$"]\n      scheme: W4A16\n' >"$T/r.yaml"
RT=$(sed ':a;N;$!ba;s/\\/\\\\/g;s/"/\\"/g;s/\n/\\n/g' "$T/r.yaml")
PARAMS="\"calib\":\"$C\",\"calib_samples\":4,\"calib_len\":64"

# the uninterrupted run
$Q quantize $M -r "$T/r.yaml" -o "$T/ref" --calib $C --calib-samples 4 --calib-len 64 >"$T/ref.out" 2>&1
check resume_reference test $? = 0

# layers_done JOB: the finished layers its pipeline state records
layers_done() { sed -n 's/.*"layers_done":[[:space:]]*\([0-9]*\).*/\1/p' "$S/jobs/$1/pipeline/state.json" 2>/dev/null; }
at_least() { ld=$(layers_done "$1"); [ -n "$ld" ] && [ "$ld" -ge "$2" ]; }
# kill_all: the daemon and its workers with SIGKILL, then a new daemon
kill_all() {
    dp=$(cat "$S/daemon.pid")
    kill -9 "$dp"
    for p in $(sed -n 's/.*worker pid \([0-9]*\).*/\1/p' "$S/daemon.log"); do kill -9 "$p" 2>/dev/null; done
    wait_until gone "$dp"
    for p in $(sed -n 's/.*worker pid \([0-9]*\).*/\1/p' "$S/daemon.log"); do wait_until gone "$p"; done
    $Q engine --session rs >/dev/null 2>&1
}

touch "$T/hold"
$Q engine --session rs >/dev/null 2>&1
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    "{\"id\":2,\"op\":\"open\",\"model\":\"$(pwd)/$M\"}" \
    "{\"id\":3,\"op\":\"job_submit\",\"kind\":\"quantize\",\"text\":\"$RT\",\"params\":{\"out\":\"$T/out1\",$PARAMS}}" |
    $Q attach rs --raw >"$T/sub1" 2>&1
check resume_submitted grep -q '"id":3,"ok":true' "$T/sub1"
wait_until at_least 1 1
check resume_state_after_layer_1 at_least 1 1
kill_all
check resume_job_interrupted sh -c "$Q attach rs --raw <<'REQ' | grep -q '\"state\":\"interrupted\"'
{\"id\":1,\"op\":\"hello\",\"version\":1}
{\"id\":2,\"op\":\"job_list\"}
REQ"

# job_resume: job 2 takes job 1's state over and is held again one layer on
k1=$(layers_done 1)
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_resume","job":1}' |
    $Q attach rs --raw >"$T/res" 2>&1
check resume_op grep -q '"id":2,"ok":true,"result":{"job":{"id":2,"kind":"quantize"' "$T/res"
check resume_from_param grep -q '"resume_from":1' "$T/res"
wait_until at_least 2 $((k1 + 1))
check resume_continues_after_layer_$k1 at_least 2 $((k1 + 1))
check resume_state_moved test ! -d "$S/jobs/1/pipeline"
grep -q "resuming the calibration after layer $k1 of 4" "$S/jobs/2/log" && pass resume_log_says_where \
    || fail resume_log_says_where "$(tail -n 5 "$S/jobs/2/log")"
kill_all

# a re-commit of the same recipe and calibration continues job 2's state
k2=$(layers_done 2)
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    "{\"id\":2,\"op\":\"job_submit\",\"kind\":\"quantize\",\"text\":\"$RT\",\"params\":{\"out\":\"$T/out3\",$PARAMS}}" |
    $Q attach rs --raw >"$T/sub3" 2>&1
check recommit_resumes grep -q '"resume_from":2' "$T/sub3"
rm -f "$T/hold"
wait_until test -s "$S/jobs/3/report.json"
check recommit_done grep -q '"resumed_at_layer":[[:space:]]*'"$k2" "$S/jobs/3/report.json"
check resume_identical_checkpoint cmp "$T/ref/model.safetensors" "$T/out3/model.safetensors"
check resume_state_removed_when_done test ! -d "$S/jobs/3/pipeline"
# nothing left to resume: a clear refusal
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_resume","job":2}' |
    $Q attach rs --raw >"$T/res2" 2>&1
check resume_refused_without_state grep -q '"error":"job_resume: job 2 (interrupted) left no finished layer to resume from"' "$T/res2"

# SparseGPT 2:4 after GPTQ W8A8 with static int8 input scales and an fp8
# kv cache (what each finished layer sets: pruning masks, input_scale,
# k_scale/v_scale): killed after a layer, resumed, cancelled one layer on,
# resumed again — the checkpoint is byte-identical to an uninterrupted run.
cat >"$T/mix.yaml" <<'EOF2'
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head, 're:.*mlp\.gate$']
      config_groups:
        group_0:
          weights: {num_bits: 8, type: int, symmetric: true, strategy: channel}
          input_activations: {num_bits: 8, type: int, symmetric: true, strategy: tensor, dynamic: false}
          targets: ['re:.*self_attn\.(q|k|v|o)_proj$']
      kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}
    SparseGPTModifier:
      sparsity: 0.5
      mask_structure: '2:4'
      targets: ['re:.*self_attn\.(q|k|v|o)_proj$']
      ignore: [lm_head, 're:.*mlp\.gate$']
EOF2
MT=$(sed ':a;N;$!ba;s/\\/\\\\/g;s/"/\\"/g;s/\n/\\n/g' "$T/mix.yaml")
$Q quantize $M -r "$T/mix.yaml" -o "$T/mixref" --calib $C --calib-samples 4 --calib-len 64 >"$T/mixref.out" 2>&1
check mix_reference test $? = 0
hdr() { n=$(od -An -t u8 -N8 "$1" | tr -d ' '); head -c $((n + 8)) "$1" | tail -c "$n"; }
check mix_reference_has_scales test "$(hdr "$T/mixref/model.safetensors" | grep -o '\.\(input_scale\|k_scale\|v_scale\)"' | wc -l)" = 28
touch "$T/hold"
printf '%s\n' '{"id":1,"op":"hello","version":1}' \
    "{\"id\":2,\"op\":\"job_submit\",\"kind\":\"quantize\",\"text\":\"$MT\",\"params\":{\"out\":\"$T/mix4\",$PARAMS}}" |
    $Q attach rs --raw >"$T/sub4" 2>&1
check mix_submitted grep -q '"id":2,"ok":true,"result":{"job":{"id":4,' "$T/sub4"
wait_until at_least 4 1
check mix_state_after_layer_1 at_least 4 1
kill_all
k4=$(layers_done 4)
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_resume","job":4}' |
    $Q attach rs --raw >"$T/res5" 2>&1
check mix_resume_op grep -q '"id":2,"ok":true,"result":{"job":{"id":5,"kind":"quantize"' "$T/res5"
wait_until at_least 5 $((k4 + 1))
check mix_continues_after_layer_$k4 at_least 5 $((k4 + 1))
# cancelled while held: the state of its last finished layer stays
job_state() { printf '%s\n' '{"id":1,"op":"hello","version":1}' "{\"id\":2,\"op\":\"job_get\",\"job\":$1}" |
    $Q attach rs --raw 2>/dev/null | grep '"id":2,' | grep -q "\"state\":\"$2\""; }
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_cancel","job":5}' | $Q attach rs --raw >"$T/can5" 2>&1
wait_until job_state 5 cancelled
check mix_cancelled job_state 5 cancelled
k5=$(layers_done 5)
check mix_cancel_keeps_state test -n "$k5"
rm -f "$T/hold"
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"job_resume","job":5}' |
    $Q attach rs --raw >"$T/res6" 2>&1
check mix_resume_after_cancel grep -q '"id":2,"ok":true,"result":{"job":{"id":6,"kind":"quantize"' "$T/res6"
wait_until test -s "$S/jobs/6/report.json"
check mix_resumed_at_layer_$k5 grep -q '"resumed_at_layer":[[:space:]]*'"$k5" "$S/jobs/6/report.json"
check mix_resume_identical_checkpoint cmp "$T/mixref/model.safetensors" "$T/mix4/model.safetensors"
check mix_resume_same_config cmp "$T/mixref/config.json" "$T/mix4/config.json"
printf '%s\n' '{"id":1,"op":"hello","version":1}' '{"id":2,"op":"shutdown","force":true}' | $Q attach rs --raw >/dev/null 2>&1
