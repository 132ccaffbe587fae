#!/bin/sh
# The workbench's GGUF target (issue 15 point 3) and quantized files opening
# as what they hold (issue 17 point 2).  Golden screens (120x30 UTF-8 and
# 80x24 ASCII, tests/golden/tui-SIZE-GLYPHS-gguf-NN-what.txt;
# QTUNE_UPDATE_GOLDEN=1 rewrites them): G turns the recipe into a GGUF
# target (Q4_K_M: sizes, bpw and err% of ggml's types, lint GG001 where a row
# length forces llama.cpp's fallback), - on layer 1's experts writes a
# tensor_types entry, F steps the file type, c writes checkpoints/vN.gguf.
# The GGUF written opens with its own types, as does a compressed-tensors
# checkpoint without a recipe.yaml; a tmux run does the same keys on a
# real terminal.
. tests/cli/lib.sh
G=tests/golden
cat >"$T/script" <<'KEYS'
# 01 G: the GGUF target, llama.cpp's Q4_K_M mix on every tensor
G
:dump D/gguf-01-target.txt
# 02 layer 1's routed experts one step down: Q4_K -> IQ4_XS (down_proj's row
# of 128 falls back to IQ4_NL, and lint says so)
j j <Enter> j j j
-
:dump D/gguf-02-experts.txt
# 03 the recipe pane: the qtune_gguf section with its tensor_types entry
r
:dump D/gguf-03-recipe.txt
# 04 a tensor: ggml's error of every GGUF type
r <Enter> j <Enter> j
:dump D/gguf-04-tensor.txt
# 05 F: the next file type (Q5_K_M)
F
:dump D/gguf-05-ftype.txt
# 06 commit: a quantize job writes the GGUF file into the session, and the
# eval behind it measures the file (a small one: 2 chunks of 64 tokens)
T <C-u>
:type ctx=64 chunks=2
<Enter>
c
:wait-idle
:dump D/gguf-06-commit.txt
KEYS
run_case() { # run_case SIZE GLYPHS [OPTS]
    size=$1; gl=$2; shift 2
    d="$T/$size-$gl"; mkdir -p "$d"
    script_in "$d" <"$T/script" >"$d/script"
    cols=${size%x*}; lines=${size#*x}
    if ! QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=$cols LINES=$lines QTUNE_SCRIPT="$d/script" \
            "$Q" "$M" --no-daemon "$@" >"$d/out" 2>"$d/err"; then
        fail "tui gguf $size $gl: run" "$(head -c 300 "$d/err")"; return
    fi
    for f in "$d"/gguf-*.txt; do
        n=$(basename "$f")
        g="$G/tui-$size-$gl-$n"
        if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$f" "$g"; fi
        if [ ! -f "$g" ]; then fail "tui gguf golden $size $gl $n" "no golden $g"; continue; fi
        if diff -u "$g" "$f" >"$d/$n.diff"; then pass "tui gguf golden $size $gl $n"
        else fail "tui gguf golden $size $gl $n" "$(head -n 20 "$d/$n.diff")"; fi
    done
}
run_case 120x30 utf8
run_case 80x24 ascii --ascii
d="$T/120x30-utf8"
grep -q 'GGUF Q4_K_M' "$d/gguf-01-target.txt" && ! grep -q 'fits ' "$d/gguf-01-target.txt" \
    && pass "tui gguf: the status line names the file type" \
    || fail "tui gguf: the status line names the file type" "$(head -n 1 "$d/gguf-01-target.txt")"
GG=$(ls "$d"/home/sessions/*/checkpoints/v*.gguf 2>/dev/null | head -n 1)
# the commit's eval job measured that file, with llama.cpp's arithmetic, and
# says what `qtune eval --quantized FILE --ggml-arith` says of it
EJ="$(dirname "$(dirname "$GG")")/jobs/2/report.json"
if [ -n "$GG" ] && [ -f "$EJ" ] && grep -q '"format":[[:space:]]*"gguf"' "$EJ" && grep -q '"ggml_arith":[[:space:]]*true' "$EJ" \
        && grep -q '"positions":[[:space:]]*128,' "$EJ"; then
    pass "tui gguf: the commit's eval job measured the GGUF file"
    QTUNE_HOME="$d/home" "$Q" eval "$M" --quantized "$GG" --data share/data/eval.txt --ctx 64 --chunks 2 --ggml-arith \
        --json >"$T/cli-eval.json" 2>&1
    jm=$(sed -n 's/^[[:space:]]*"mean":[[:space:]]*\([^,]*\),*$/\1/p' "$EJ" | head -n 1)
    cm=$(sed -n 's/^[[:space:]]*"mean":[[:space:]]*\([^,]*\),*$/\1/p' "$T/cli-eval.json" | head -n 1)
    [ -n "$jm" ] && [ "$jm" = "$cm" ] && pass "tui gguf: the job's KL is qtune eval --ggml-arith's" \
        || fail "tui gguf: the job's KL is qtune eval --ggml-arith's" "job '$jm', cli '$cm'"
else
    fail "tui gguf: the commit's eval job measured the GGUF file" "$(cat "$EJ" 2>&1 | head -c 600)"
fi
if [ -n "$GG" ] && "$Q" inspect "$GG" >"$T/inspect" 2>&1; then
    pass "tui gguf: commit wrote a GGUF file qtune reads"
    # the experts' entry reached the file: layer 1's experts are IQ4_XS, layer 2's not
    # (the summary and the line under it, which names each projection's type when they differ)
    awk '/^layer 1 /{l=1} /^layer 2 /{l=0} l && /^  experts /{print; getline; print}' "$T/inspect" | grep -q 'IQ4_XS' \
        && ! awk '/^layer 2 /{l=1} /^layer 3 /{l=0} l && /^  experts /{print; getline; print}' "$T/inspect" | grep -q 'IQ4_XS' \
        && pass "tui gguf: the file holds the edited type" \
        || fail "tui gguf: the file holds the edited type" "$(grep -n 'experts.0.up_proj' "$T/inspect" | head -n 3)"
    head -n 5 "$T/inspect" | grep '^params' | grep -q 'on disk' && ! head -n 5 "$T/inspect" | grep '^params' | grep -Eq 'BF16$' \
        && pass "tui gguf: inspect's header gives the stored types, not BF16" \
        || fail "tui gguf: inspect's header gives the stored types, not BF16" "$(head -n 5 "$T/inspect")"
    # every row's params value ends where the header's "params" does (IQ4_XS, IQ4_NL fit the column)
    awk '/^  role +tensor/ { end = index($0, "params") + 5; next }
         end && /^  [a-z_]+ +[a-z.{}_0-9,]+ +\[/ && !/\(/ {
             n++; if (substr($0, end, 1) == " " || substr($0, end + 1, 1) != " ") { bad++; print } }
         END { if (!n) print "no rows"; exit (bad || !n) }' "$T/inspect" >"$T/misaligned" \
        && pass "tui gguf: inspect's dtype column stays aligned" \
        || fail "tui gguf: inspect's dtype column stays aligned" "$(head -n 3 "$T/misaligned")"
else
    fail "tui gguf: commit wrote a GGUF file qtune reads" "$(ls -R "$d/home/sessions" 2>&1 | head -n 20; cat "$T/inspect" 2>/dev/null | head -n 3)"
fi

# A GGUF file opens with its own types (not 16.00 bpw, every tensor bf16):
# the size, bpw and count of quantized tensors of the file, the recipe
# rebuilt from it.
printf ':wait-idle\n:dump %s/open.txt\nr\n:dump %s/open-recipe.txt\n' "$T" "$T" >"$T/oscript"
if [ -n "$GG" ] && QTUNE_HOME="$T/ohome" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$T/oscript" \
        "$Q" "$GG" --no-daemon >"$T/o.out" 2>"$T/o.err"; then
    # the session had recipe 11.5 MiB 5.72 bpw at Q5_K_M when committed
    c1=$(head -n 1 "$d/gguf-05-ftype.txt" | sed 's/ \[+\]//' | grep -o 'recipe [0-9.]* MiB *[0-9.]* bpw')
    o1=$(head -n 1 "$T/open.txt" | grep -o 'recipe [0-9.]* MiB *[0-9.]* bpw')
    [ -n "$c1" ] && [ "$c1" = "$o1" ] && head -n 1 "$T/open.txt" | grep -q 'GGUF Q5_K_M' \
        && pass "tui gguf: a GGUF file opens with its types, size and bpw" \
        || fail "tui gguf: a GGUF file opens with its types, size and bpw" "committed '$c1', opened: $(head -n 1 "$T/open.txt")"
    grep -q 'layer 1  MoE .*mixed' "$T/open.txt" && grep -q 'lm_head .*Q6_K' "$T/open.txt" \
        && pass "tui gguf: the tree shows the file's types" \
        || fail "tui gguf: the tree shows the file's types" "$(head -n 10 "$T/open.txt")"
    grep -q 'exps\\.weight\$=IQ4_XS' "$T/open-recipe.txt" && grep -q 'ftype: Q5_K_M' "$T/open-recipe.txt" \
        && pass "tui gguf: the starting recipe is the file's types" \
        || fail "tui gguf: the starting recipe is the file's types" "$(sed -n 2,16p "$T/open-recipe.txt")"
else
    fail "tui gguf: the GGUF file opens" "$(head -c 300 "$T/o.err" 2>/dev/null)"
fi

# A compressed-tensors checkpoint without recipe.yaml opens with what its
# quantization_config says (before: every tensor bf16, 16.00 bpw).
CT="$T/ct"
if "$Q" quantize "$M" -r recipes/tiny-w4a16.yaml -o "$CT" >"$T/q.out" 2>"$T/q.err"; then
    rm -f "$CT/recipe.yaml"
    printf ':wait-idle\n:dump %s/ct.txt\nr\n:dump %s/ct-recipe.txt\n' "$T" "$T" >"$T/cscript"
    if QTUNE_HOME="$T/chome" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$T/cscript" "$Q" "$CT" --no-daemon \
            >"$T/c.out" 2>"$T/c.err"; then
        head -n 1 "$T/ct.txt" | grep -q '172 quantized' && ! head -n 1 "$T/ct.txt" | grep -q '16.00 bpw' \
            && grep -q 'layer 0  dense .*int4-g128-sym' "$T/ct.txt" && grep -q 'layer 4  MTP .*bf16' "$T/ct.txt" \
            && pass "tui: a checkpoint without recipe.yaml opens with its quantization_config" \
            || fail "tui: a checkpoint without recipe.yaml opens with its quantization_config" "$(head -n 9 "$T/ct.txt")"
        grep -q "quantization_config" "$T/ct-recipe.txt" && grep -q 'config_groups:' "$T/ct-recipe.txt" \
            && pass "tui: its starting recipe is the config's groups and ignore list" \
            || fail "tui: its starting recipe is the config's groups and ignore list" "$(sed -n 2,12p "$T/ct-recipe.txt")"
    else
        fail "tui: a checkpoint without recipe.yaml opens" "$(head -c 300 "$T/c.err")"
    fi
else
    fail "tui: quantize for the recipe-less checkpoint" "$(cat "$T/q.err")"
fi

# The same on a real terminal: G, - on layer 1's experts, c writes the file.
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux not installed: skipping the end-to-end GGUF test"
    exit 0
fi
SOCK="qtune-gguf-$$"
SESS=gg$$
. tests/cli/tmux.sh
ENV="env QTUNE_HOME=$H XDG_RUNTIME_DIR=$R LC_ALL=C.UTF-8 TERM=xterm-256color"
tm new-session -d -s "$SESS" -x 120 -y 30 "env PS1='qtsh> ' sh"
keys "$ENV $QB $M -s $SESS" Enter
wait_for "tmux gguf: workbench opens" "layer 1  MoE" || exit 0
keys G
wait_for "tmux gguf: G makes a GGUF target" "GGUF Q4_K_M" || exit 0
keys j j Enter
wait_for "tmux gguf: layer 1 open" "routed exper" || exit 0
keys j j j -
wait_for "tmux gguf: - steps the experts to IQ4_XS" "experts\\. -> IQ4_XS"
keys T C-u "ctx=64 chunks=2" Enter
keys c
wait_for "tmux gguf: c submits the GGUF quantize job and its eval" "quantize (GGUF) + eval job submitted"
keys o
wait_for "tmux gguf: the quantize job is done" "quantize +done" -E
ls "$H"/sessions/"$SESS"/checkpoints/v*.gguf >/dev/null 2>&1 \
    && pass "tmux gguf: the file is in the session" \
    || fail "tmux gguf: the file is in the session" "$(ls -R "$H/sessions/$SESS" 2>&1 | head -n 20)"
# the eval queued behind it measures the written file (llama.cpp's arithmetic)
wait_for "tmux gguf: the eval of the file is done" "#2 .* done" -E
wait_for "tmux gguf: the eval's KL in the jobs panel" "KL "
EJ=$(ls "$H"/sessions/"$SESS"/jobs/2/report.json 2>/dev/null)
[ -n "$EJ" ] && grep -q '"format":[[:space:]]*"gguf"' "$EJ" && grep -q '"ggml_arith":[[:space:]]*true' "$EJ" \
    && grep -q '"quantized":[[:space:]]*"[^"]*checkpoints/v[0-9]*\.gguf"' "$EJ" \
    && pass "tmux gguf: the eval report names the GGUF file" \
    || fail "tmux gguf: the eval report names the GGUF file" "$(cat "$H"/sessions/"$SESS"/jobs/2/report.json 2>&1 | head -c 600)"
keys Escape q
