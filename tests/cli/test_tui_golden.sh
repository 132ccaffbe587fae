#!/bin/sh
# Golden screens: a key script (QTUNE_SCRIPT) drives the workbench on the
# tiny model onto a virtual screen; every `:dump` is compared with
# tests/golden/tui-SIZE-GLYPHS-NN-what.txt at 80x24 and 120x40, UTF-8 and
# ASCII.  QTUNE_UPDATE_GOLDEN=1 rewrites the goldens (review the diff).
. tests/cli/lib.sh
G=tests/golden
cat >"$T/script" <<'KEYS'
# 01 the model as it opens: everything bf16, the empty recipe
:dump D/01-open.txt
# 02 layer 1's routed experts: bf16 -> int8 -> ... -> int4, group 128
j j <Enter> j j j <Enter>
- - - - -
:dump D/02-experts-int4.txt
# 03 the recipe pane: the YAML as it will be saved, with match counts
r
:dump D/03-recipe.txt
# 04 a target pattern with its live match count, before it is added
r p
:type model\.layers\.[23]\.mlp\.experts\.
:dump D/04-pattern.txt
<Enter>
# 05 variants: A = both layers, B = after undo; compare
a u
b C
:dump D/05-compare.txt
# 06 help, generated from the key table
<Esc> ?
:dump D/06-help.txt
# 07 search (/ then n): expert 7 of layer 2, revealed in the tree
<Esc> /
:type expert 7
<Enter> n
:dump D/07-search.txt
# 08 marks: two experts marked, one key edits both (one undo step)
<Home> /
:type expert 3
<Enter> <Space> <Space> -
:dump D/08-marks.txt
# 09 quit with uncommitted edits asks, defaulting to No
<Esc> q
:dump D/09-quit.txt
<Enter>
# 10 a tensor: the engine's error table bits x group, the weight histogram
<Home> /
:type expert 0
<Enter> <Enter> j
:dump D/10-tensor.txt
# 11 the deployment table for the default GPU
D
:dump D/11-deploy.txt
# 12 lint findings in the recipe pane; Enter jumps to the tensor named
<Esc> r <Tab> <End>
:dump D/12-lint.txt
<Enter>
:dump D/13-lint-jump.txt
# 14 below the minimum size
:size 70x20
:dump D/14-small.txt
KEYS
run_case() { # run_case SIZE GLYPHS LOCALE [OPTS]
    size=$1; gl=$2; loc=$3; shift 3
    d="$T/$size-$gl"; mkdir -p "$d"
    script_in "$d" <"$T/script" >"$d/script"
    cols=${size%x*}; lines=${size#*x}
    if ! QTUNE_HOME="$d/home" LC_ALL=$loc COLUMNS=$cols LINES=$lines QTUNE_SCRIPT="$d/script" \
            "$Q" "$M" --no-daemon "$@" \
            >"$d/out" 2>"$d/err"; then
        fail "tui golden $size $gl: run" "$(head -c 300 "$d/err")"; return
    fi
    for f in "$d"/[0-9]*.txt; do
        n=$(basename "$f")
        g="$G/tui-$size-$gl-$n"
        if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$f" "$g"; fi
        if [ ! -f "$g" ]; then fail "tui golden $size $gl $n" "no golden $g"; continue; fi
        if diff -u "$g" "$f" >"$d/$n.diff"; then pass "tui golden $size $gl $n"
        else fail "tui golden $size $gl $n" "$(head -n 20 "$d/$n.diff")"; fi
    done
}
run_case 80x24 utf8 C.UTF-8
run_case 120x40 utf8 C.UTF-8
run_case 80x24 ascii C.UTF-8 --ascii
run_case 120x40 ascii C.UTF-8 --ascii
# one_screen NAME WHAT KEYS [OPTION...]: a script of KEYS ending in one dump
# after :wait-idle (jobs run to the end), at 120x30 UTF-8, against
# tests/golden/tui-120x30-utf8-NAME.txt
one_screen() {
    name=$1 what=$2 keys=$3; shift 3
    d="$T/$name"; mkdir -p "$d"
    printf '%s\n:wait-idle\n:dump %s/screen.txt\n' "$keys" "$d" >"$d/script"
    if QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$d/script" "$Q" "$M" --no-daemon \
            "$@" >"$d/out" 2>"$d/err"; then
        g="$G/tui-120x30-utf8-$name.txt"
        if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$d/screen.txt" "$g"; fi
        if diff -u "$g" "$d/screen.txt" >"$d/diff"; then pass "tui golden $what"
        else fail "tui golden $what" "$(head -n 20 "$d/diff")"; fi
    else
        fail "tui golden $what: run" "$(head -c 300 "$d/err")"
    fi
}
# A dKL scan (sensitivity job, a few seconds): the dKL column and detail line.
one_screen dkl "dKL scan" "$(printf 'j j <Enter> j j j\ne')"
# KL of variants A and B (E: two eval jobs, a few seconds): the compare panel.
one_screen compare-kl "compare KL" "$(printf 'j j <Enter> j j j\n- - - - -\na u\nb C\nE')"
# Calibration statistics (--calib: a calib job, about a second): the detail
# panel's calibration-weighted error of an int4 expert tensor.
one_screen calib "calibration-weighted error" \
    "$(printf 'j j <Enter> j j j <Enter>\n- - - - -\n/\n:type expert 0\n<Enter> <Enter> j')" \
    --calib share/data/calib.txt
# The arithmetic mode (T: arith=f32|bf16) is the daemon's: the prompt shows
# the mode in force, the detail's error table is computed again in the one
# typed (the figure the CLI gives in that mode, int8 g32: the modes differ
# there on the fixture), a mode the daemon does not know is a one-line
# error, and the session keeps the choice.
d="$T/arith"; mkdir -p "$d"
cat >"$d/script" <<KEYS
j j <Enter> j j j <Enter>
/
:type expert 0
<Enter> <Enter> j
T <C-u>
:type arith=f32
<Enter>
:wait-idle
:dump $d/f32.txt
T <C-u>
:type arith=bf16
<Enter>
:wait-idle
:dump $d/bf16.txt
T
:dump $d/prompt.txt
<C-u>
:type arith=fp16
<Enter>
:wait-idle
:dump $d/bad.txt
KEYS
if QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$d/script" "$Q" "$M" --no-daemon \
        >"$d/out" 2>"$d/err"; then
    for a in f32 bf16; do
        cli=$($Q preview $M --scheme int8-g32-sym --arith $a --filter 'layers\.1\.mlp\.experts\.0\.gate_proj' --json |
            tr -d ' \t\n' | sed -n 's/.*"total":{.*"rel_rmse":\([0-9.e-]*\).*/\1/p')
        want=$(awk -v v="$cli" 'BEGIN { printf "%.2f", 100 * v }')
        got=$(sed -n 's/.*│ int8 *\([0-9.]*\) .*/\1/p' "$d/$a.txt")
        check "tui arith=$a: the detail's int8 g32 is the CLI's in $a ($want)" test "$got" = "$want"
    done
    check "tui arith: the two modes differ on the fixture" sh -c "! cmp -s '$d/f32.txt' '$d/bf16.txt'"
    check "tui arith: the prompt shows the mode in force" grep -q "arith=bf16" "$d/prompt.txt"
    check "tui arith: a bad mode is a one-line error" sh -c \
        "tail -n 2 '$d/bad.txt' | grep -q 'settings: arith: fp16 is not an arithmetic mode'"
    check "tui arith: the session keeps the mode" grep -q '"arith":[[:space:]]*"bf16"' \
        "$d/home/sessions/tiny-glm-moe/settings.json"
else
    fail "tui arith: run" "$(head -c 300 "$d/err")"
fi
# A GPTQ recipe: before the commit the detail says the preview is RTN's;
# the commit (calibration 8 x 128 from the eval settings prompt) runs GPTQ
# layer by layer and its eval measures the checkpoint; then the detail
# shows GPTQ's output error on the calibration Hessian beside RTN's and the
# tokens routed to the expert.
d="$T/gptq"; mkdir -p "$d"
printf 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head, "re:.*mlp\\\\.gate$"]\n      scheme: W4A16\n' >"$d/r.yaml"
cat >"$d/script" <<KEYS
j j <Enter> j j j <Enter>
/
:type expert 0
<Enter> <Enter> j
:wait-idle
:dump $d/before.txt
T <C-u>
:type calib_samples=8 calib_len=128
<Enter>
c
:wait-idle
:dump $d/after.txt
KEYS
if QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$d/script" "$Q" "$M" -r "$d/r.yaml" \
        --no-daemon >"$d/out" 2>"$d/err"; then
    for n in before after; do
        g="$G/tui-120x30-utf8-gptq-$n.txt"
        if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$d/$n.txt" "$g"; fi
        if diff -u "$g" "$d/$n.txt" >"$d/$n.diff"; then pass "tui golden gptq $n commit"
        else fail "tui golden gptq $n commit" "$(head -n 20 "$d/$n.diff")"; fi
    done
    J="$d/home/sessions/tiny-glm-moe/jobs"
    check "tui gptq commit calibrates 8 x 128" grep -q '"samples":[[:space:]]*8,' "$J/1/report.json"
    check "tui gptq commit evaluates the checkpoint" grep -q '"quantized":[[:space:]]*".*checkpoints/v1"' "$J/2/report.json"
    check "tui gptq progress per layer" grep -q '"stage":"calibrating"' "$d/home/sessions/tiny-glm-moe/events.jsonl"
else
    fail "tui golden gptq: run" "$(head -c 300 "$d/err")"
fi
# After a commit of an AWQ, a SmoothQuant or a SparseGPT recipe the detail
# shows that algorithm's own output error on the calibration Hessian beside
# plain RTN's, labelled, the figures of the job's report.  algo_case NAME
# RECIPE MODULE KEYS LABEL: KEYS select MODULE's tensor after the commit;
# the detail's "out err" line starts with LABEL and its two figures are the
# report's out_err and rtn_out_err (relative RMS: the square roots).
algo_case() {
    name=$1 recipe=$2 module=$3 keys=$4 label=$5
    d="$T/algo-$name"; mkdir -p "$d"
    printf 'T <C-u>\n:type calib_samples=8 calib_len=128\n<Enter>\nc\n:wait-idle\n%s\n:dump %s/screen.txt\n' \
        "$keys" "$d" >"$d/script"
    if ! QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=160 LINES=30 QTUNE_SCRIPT="$d/script" "$Q" "$M" -r "$recipe" \
            --no-daemon >"$d/out" 2>"$d/err"; then
        fail "tui $name detail: run" "$(head -c 300 "$d/err")"; return
    fi
    rep="$d/home/sessions/tiny-glm-moe/jobs/1/report.json"
    want=$(tr -d ' \t\n' <"$rep" | sed 's/},{/}\n{/g' | grep "\"module\":\"$module\"" |
        sed -n 's/.*"out_err":\([0-9.e-]*\),"rtn_out_err":\([0-9.e-]*\).*/\1 \2/p' |
        awk '{ printf "%.2f%%  RTN %.2f%%", 100 * sqrt($1), 100 * sqrt($2) }')
    got=$(sed -n 's/.*│ out err  \(.*\) (Hessian).*/\1/p' "$d/screen.txt")
    check "tui $name detail: $module has its figures in the report" test -n "$want"
    check "tui $name detail: '$label $want'" test "$got" = "$label $want"
}
printf 'quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head, "re:.*mlp\\\\.gate$"]\n      scheme: W8A8\n' >"$T/sq.yaml"
# AWQ (the GLM-4.6 recipe: layers 0-2 kept; up -> down smoothed in layer 3)
algo_case awq recipes/glm-4.6-awq-w4a16.yaml model.layers.3.mlp.experts.0.down_proj \
    "$(printf '/\n:type expert 0\n<Enter> n n <Enter> j j j')" "AWQ+RTN"
algo_case sq "$T/sq.yaml" model.layers.2.self_attn.q_proj \
    "$(printf '/\n:type attention\n<Enter> n n <Enter> j')" "SmoothQuant+RTN"
algo_case sparsegpt recipes/glm-4.5-air-sq-gptq-w8a8-2of4.yaml model.layers.2.self_attn.q_proj \
    "$(printf '/\n:type attention\n<Enter> n n <Enter> j')" "SparseGPT+GPTQ"
expect_err "tui --calib unreadable" "open: --calib: $T/none.txt: No such file" \
    env QTUNE_HOME="$T/home" QTUNE_SCRIPT="$T/script" "$Q" "$M" --no-daemon --calib "$T/none.txt"
# The glyph table follows the locale: a non-UTF-8 locale draws ASCII.
d="$T/80x24-clocale"; mkdir -p "$d"
script_in "$d" <"$T/script" >"$d/script"
QTUNE_HOME="$d/home" LC_ALL=C LANG=C COLUMNS=80 LINES=24 QTUNE_SCRIPT="$d/script" "$Q" "$M" --no-daemon >/dev/null 2>&1
check "tui C locale draws ASCII" cmp -s "$d/02-experts-int4.txt" "$T/80x24-ascii/02-experts-int4.txt"
# ASCII screens hold nothing but ASCII.
check "tui ascii screens are ASCII" sh -c "! LC_ALL=C grep -q '[^ -~]' $T/80x24-ascii/*.txt $T/120x40-ascii/*.txt"
# A script error names the line.
printf 'j\n<Bogus>\n' >"$T/bad"
expect_err "tui script unknown key" 'bad:2: unknown key <Bogus>' env QTUNE_HOME="$T/home" QTUNE_SCRIPT="$T/bad" "$Q" "$M" --no-daemon
# Not a terminal and no script: refuse, do not draw garbage.
expect_err "tui refuses a non-tty" 'not a terminal' sh -c "'$Q' '$M' --no-daemon </dev/null"
# A config-only model: the keys that run jobs on weights say why they do not
# (the engine's reason), not that there were no engine.
d="$T/meta"; mkdir -p "$d"
printf 'e\n:dump %s/e.txt\nS\n:dump %s/S.txt\nc\n:dump %s/c.txt\n' "$d" "$d" "$d" >"$d/script"
QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=120 LINES=40 QTUNE_SCRIPT="$d/script" \
    "$Q" share/models/meta/GLM-4.6.config.json --no-daemon >"$d/out" 2>"$d/err"
for k in e S c; do
    check "tui metadata-only $k says why" sh -c "tail -n 2 '$d/$k.txt' | grep -q ': metadata only: no weights\$'"
done
# The deploy panel's choices (Enter: ctx batch kv util tp): each one typed
# changes the daemon's table — ctx the concurrency, batch the cost per
# token, kv the KV bytes per token, util the KV capacity, tp the GPUs the
# figures are of; a ctx beyond the model's limit (4,096) is capped and says
# so; a bad value is one line (the TUI's check or the daemon's).
d="$T/deploy"; mkdir -p "$d"
cat >"$d/script" <<KEYS
D
:wait-idle
:dump $d/0.txt
<Enter> <C-u>
:type ctx=2048
<Enter>
:wait-idle
:dump $d/ctx.txt
<Enter> <C-u>
:type batch=8
<Enter>
:wait-idle
:dump $d/batch.txt
<Enter> <C-u>
:type kv=fp8
<Enter>
:wait-idle
:dump $d/kv.txt
<Enter> <C-u>
:type util=0.45
<Enter>
:wait-idle
:dump $d/util.txt
<Enter> <C-u>
:type tp=4
<Enter>
:wait-idle
:dump $d/tp.txt
<Enter>
:dump $d/prompt.txt
<C-u>
:type ctx=100000
<Enter>
:wait-idle
:dump $d/over.txt
<Enter> <C-u>
:type util=2
<Enter>
:dump $d/bad.txt
<Enter> <C-u>
:type kv=int3
<Enter>
:wait-idle
:dump $d/badkv.txt
KEYS
if QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=100 LINES=30 QTUNE_SCRIPT="$d/script" "$Q" "$M" -r recipes/tiny-w4a16.yaml \
        --no-daemon >"$d/out" 2>"$d/err"; then
    row1() { grep -m1 '^ *1 ' "$1"; }   # the tp 1 row
    check "tui deploy: the default ctx is the model's limit" grep -q "ctx 4096 x batch 1 at 90% memory   kv auto   tp auto" "$d/0.txt"
    check "tui deploy: ctx=2048 is the daemon's" grep -q "ctx 2048 x batch 1" "$d/ctx.txt"
    check "tui deploy: ctx changes the concurrency" test "$(row1 "$d/0.txt" | awk '{print $(NF-1)}')" != "$(row1 "$d/ctx.txt" | awk '{print $(NF-1)}')"
    check "tui deploy: batch=8 is the daemon's" grep -q "ctx 2048 x batch 8" "$d/batch.txt"
    check "tui deploy: batch changes the cost per token" sh -c "! diff -q '$d/ctx.txt' '$d/batch.txt' >/dev/null && \
        test \"\$(grep 'per M tokens' '$d/ctx.txt')\" != \"\$(grep 'per M tokens' '$d/batch.txt')\""
    check "tui deploy: kv=fp8 makes 1-byte elements" sh -c "grep -q 'kv fp8' '$d/kv.txt' && grep -q 'KV 1.0 KiB/token (gqa, 2 B)' '$d/batch.txt' && grep -q 'KV 512 B/token (gqa, 1 B)' '$d/kv.txt'"
    check "tui deploy: util=0.45 lowers the KV capacity" sh -c "grep -q 'at 45% memory' '$d/util.txt' && \
        test \"\$(grep -m1 '^ *1 ' '$d/kv.txt' | awk '{print \$6}')\" != \"\$(grep -m1 '^ *1 ' '$d/util.txt' | awk '{print \$6}')\""
    check "tui deploy: tp=4 is the figures' tp" sh -c "grep -q 'kv fp8   tp 4' '$d/tp.txt' && grep -q 'at tp 4: decode' '$d/tp.txt' && grep -q 'at tp 1: decode' '$d/util.txt'"
    check "tui deploy: the prompt shows the kept values" grep -q "deploy: ctx=2048 batch=8 kv=fp8 util=0.45 tp=4" "$d/prompt.txt"
    check "tui deploy: a ctx beyond the limit is capped, with a warning" sh -c "grep -q 'ctx 4096 x batch 8' '$d/over.txt' && \
        grep -q \"ctx 100000 is beyond the model's limit of 4096 tokens: capped\" '$d/over.txt'"
    check "tui deploy: a bad util is one line" sh -c "tail -n 2 '$d/bad.txt' | grep -q 'deploy: util: 2: a fraction of GPU memory in (0, 1]'"
    check "tui deploy: a kv dtype the daemon does not know is one line" sh -c \
        "tail -n 2 '$d/badkv.txt' | grep -q 'settings: deploy_kv_dtype: int3: unknown (auto, bf16, fp16, fp8, fp32)'"
    for kv in '"deploy_ctx":100000' '"deploy_batch":8' '"deploy_kv_dtype":"fp8"' '"deploy_util":0.45' '"deploy_tp":4'; do
        check "tui deploy: the session keeps $kv" grep -q "$kv" "$d/home/sessions/tiny-glm-moe/settings.json"
    done
else
    fail "tui deploy: run" "$(head -c 300 "$d/err")"
fi
