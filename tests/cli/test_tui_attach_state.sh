#!/bin/sh
# End to end under tmux: what a session keeps for `qtune attach` beyond the
# recipe — named variants A, B, C (the compare table lists them all), the
# GPU chosen in the deploy panel with its ctx, batch, kv dtype, memory
# utilization and TP, the eval settings typed at `T` (the arithmetic mode
# among them: the daemon's default is bf16 here), and a
# finished dKL scan's summary with its scheme.  Polls capture-pane until a
# generous deadline; no fixed sleeps.  The tmux server (own socket) and the
# daemon are stopped at the end.
. tests/cli/lib.sh
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux not installed: skipping the attach-state test"
    exit 0
fi
SOCK="qtune-as-$$"
SESS=as$$
. tests/cli/tmux.sh
ENV="env QTUNE_HOME=$H XDG_RUNTIME_DIR=$R LC_ALL=C.UTF-8 TERM=xterm-256color QTUNE_ARITH=bf16"
tm new-session -d -s "$SESS" -x 120 -y 40 "env PS1='qtsh> ' sh"
keys "$ENV $QB $M -s $SESS" Enter
wait_for "attach-state: workbench opens" "layer 1  MoE" || exit 0
# A: layer 1's routed experts at int4; B: int3; C (v, the next free letter): int2
keys j j Enter j j j
wait_for "attach-state: expert group selected" "target   re:model\\.layers\\.1\\.mlp\\.experts\\."
keys - - - - -
wait_for "attach-state: experts at int4" "int4-g128-sym  792.8K"
keys a
wait_for "attach-state: A stored" "stored the recipe as variant A"
keys -
wait_for "attach-state: experts at int3" "int3-g128-sym"
keys b
wait_for "attach-state: B stored" "stored the recipe as variant B"
keys -
wait_for "attach-state: experts at int2" "int2-g128-sym"
keys v
wait_for "attach-state: v stores C" "stored the recipe as variant C"
# a dKL scan of every group at the selected node's scheme
keys e
wait_for "attach-state: dKL scan submitted" "(dKL scan of every group at int2-g128-sym|job [0-9]+ \(sensitivity\))" -E
# the deploy panel: the next GPU of the catalog
keys D
wait_for "attach-state: deploy panel" "deploy on H100-80G"
keys j
wait_for "attach-state: GPU changed" "deploy on H200"
# ... and its other choices (Enter: ctx batch kv util tp), the daemon's table
keys Enter
wait_for "attach-state: deploy prompt" "deploy: ctx=default batch=default kv=auto util=default tp=auto"
keys C-u "ctx=2048 batch=4 kv=fp8 util=0.5 tp=2" Enter
wait_for "attach-state: deploy settings in the table" "ctx 2048 x batch 4 at 50% memory   kv fp8   tp 2"
keys Escape
# the eval settings: a shorter context and fewer chunks, f32 arithmetic
keys T
wait_for "attach-state: eval settings prompt" "arith=bf16"
keys $(for _ in $(seq 1 400); do printf 'BSpace '; done)
keys "ctx=64 chunks=2 arith=f32" Enter
wait_for "attach-state: eval settings sent" "eval settings sent"
keys o
wait_for "attach-state: the scan finishes" "dKL of [0-9]+ groups at int2-g128-sym" -E
keys Escape
keys d
wait_for "attach-state: detach" "detached: session $SESS keeps running"
# the daemon stays; a new client sees what the session kept
keys "$ENV $QB attach $SESS" Enter
wait_for "attach-state: attach brings the workbench back" "routed experts"
keys C
wait_for "attach-state: compare lists C after attach" "^ +C +[0-9.]+ [KM]iB" -E
grep -Eq "^ +. A +[0-9.]+ [KM]iB" "$T/screen" && grep -Eq "^ +B +[0-9.]+ [KM]iB" "$T/screen" \
    && pass "attach-state: A and B kept with their sizes" \
    || fail "attach-state: A and B kept with their sizes" "$(head -n 12 "$T/screen")"
grep -q "empty: press" "$T/screen" && fail "attach-state: no variant shown empty" "$(head -n 12 "$T/screen")" \
    || pass "attach-state: no variant shown empty"
keys Escape
keys o
wait_for "attach-state: the scan's summary keeps its scheme" "dKL of [0-9]+ groups at int2-g128-sym" -E
grep -q "groups at ;" "$T/screen" && fail "attach-state: no empty scheme in the summary" || pass "attach-state: no empty scheme in the summary"
keys Escape
keys D
wait_for "attach-state: the chosen GPU is kept" "deploy on H200"
wait_for "attach-state: the deploy choices are kept" "ctx 2048 x batch 4 at 50% memory   kv fp8   tp 2"
grep -q "at tp 2: decode" "$T/screen" && pass "attach-state: the kept tp is the figures'" \
    || fail "attach-state: the kept tp is the figures'" "$(head -n 20 "$T/screen")"
keys Escape
keys T
wait_for "attach-state: the eval settings are kept" "ctx=64 chunks=2 calib_samples=default calib_len=default arith=f32"
keys Escape
# x in the compare panel drops the selected variant (A), which stays dropped
keys C
wait_for "attach-state: compare again" "^ +C +[0-9.]+ [KM]iB" -E
keys x
wait_for "attach-state: x drops A" "(empty: press a)"
keys Escape
keys d
wait_for "attach-state: detach again" "detached: session $SESS keeps running"
ls "$H"/sessions/"$SESS"/variants/ >"$T/variants" 2>&1
grep -q '^A.yaml' "$T/variants" && fail "attach-state: A.yaml removed" "$(cat "$T/variants")" \
    || pass "attach-state: A.yaml removed"
grep -q '^C.yaml' "$T/variants" && pass "attach-state: C.yaml kept" || fail "attach-state: C.yaml kept" "$(cat "$T/variants")"
