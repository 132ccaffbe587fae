#!/bin/sh
# The plan panel (issue 16 point 4), by script on a virtual screen: P opens
# it with the size side of the target, R runs the plan job (over the
# committed ΔKL table tests/refs/plan_dkl_tiny.json, QTUNE_PLAN_DKL, so it
# takes a second), the curve is drawn with the uniform recipes, the current
# recipe and the selected point marked, l moves along it, Enter applies the
# point as the recipe (one history step, variants A = before and B = the
# point), u undoes it.  Golden screens tests/golden/tui-plan-*.txt
# (QTUNE_UPDATE_GOLDEN=1 rewrites them); a config.json alone shows the size
# side and says that ΔKL needs the weights.
. tests/cli/lib.sh
G=tests/golden
DKL=$(pwd)/tests/refs/plan_dkl_tiny.json
cat >"$T/script" <<'KEYS'
# 01 the panel before any plan: the size side of the W4A16 target
P
:dump D/01-size.txt
# 02 the plan job, then its curve with the plan for the target selected
R
:wait-idle
:dump D/02-curve.txt
# 03 two points along the curve
l l
:dump D/03-moved.txt
# 04 the point as the recipe
<Enter>
:wait-idle
:dump D/04-applied.txt
# 05 A (the recipe before) against B (the point) in the compare panel
C
:dump D/05-compare.txt
# 06 one undo step back to the recipe before
<Esc> u
:wait-idle
:dump D/06-undone.txt
# 07 the target prompt, then bits per weight as the target
P t
<C-u>
:type 5bpw
:dump D/07-prompt.txt
<Enter>
:wait-idle
:dump D/08-bpw.txt
# 09 g: the next job's candidates are GPTQ's
g
:dump D/09-gptq.txt
KEYS
run_case() { # run_case SIZE GLYPHS [OPTS]
    size=$1; gl=$2; shift 2
    d="$T/$size-$gl"; mkdir -p "$d"
    script_in "$d" <"$T/script" >"$d/script"
    if ! QTUNE_HOME="$d/home" QTUNE_PLAN_DKL="$DKL" LC_ALL=C.UTF-8 COLUMNS=${size%x*} LINES=${size#*x} \
            QTUNE_SCRIPT="$d/script" "$Q" "$M" --no-daemon "$@" >"$d/out" 2>"$d/err"; then
        fail "tui plan $size $gl: run" "$(head -c 300 "$d/err")"; return
    fi
    for f in "$d"/[0-9]*.txt; do
        n=$(basename "$f")
        g="$G/tui-plan-$size-$gl-$n"
        if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$f" "$g"; fi
        if [ ! -f "$g" ]; then fail "tui plan golden $size $gl $n" "no golden $g"; continue; fi
        if diff -u "$g" "$f" >"$d/$n.diff"; then pass "tui plan golden $size $gl $n"
        else fail "tui plan golden $size $gl $n" "$(head -n 20 "$d/$n.diff")"; fi
    done
}
run_case 80x24 utf8
run_case 80x24 ascii --ascii
run_case 120x40 utf8
d="$T/120x40-utf8"
# what the goldens show, said plainly
check "tui plan: the curve has the uniform recipes" grep -q '^ *KL│.*\|o' "$d/02-curve.txt"
check "tui plan: the plan for the target is selected" grep -q 'the plan for the target' "$d/02-curve.txt"
check "tui plan: applied, the recipe has edits" grep -q 'recipe 23.6 MiB \[+\]' "$d/04-applied.txt"
check "tui plan: the current recipe is the point" \
    sh -c "grep -q '^  + current recipe: 23.6 MiB  5.12 bpw  predicted KL 0.0104' '$d/04-applied.txt'"
check "tui plan: A and B in the compare panel" grep -q 'B .*23.6 MiB' "$d/05-compare.txt"
check "tui plan: undone" grep -q '^undone: recipe version 0' "$d/06-undone.txt"
check "tui plan: g switches to GPTQ candidates" sh -c "grep -q '^ plan for 5bpw, GPTQ ' '$d/09-gptq.txt' && grep -q '^plan: GPTQ candidates' '$d/09-gptq.txt'"
check "tui plan: ascii screens are ASCII" sh -c "! LC_ALL=C grep -q '[^ -~]' $T/80x24-ascii/*.txt"
# A config.json alone: the size side, and why there is no curve
d="$T/meta"; mkdir -p "$d"
printf 'P\n:wait-idle\n:dump %s/size.txt\nR\n:dump %s/R.txt\n' "$d" "$d" >"$d/script"
QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=80 LINES=24 QTUNE_SCRIPT="$d/script" \
    "$Q" share/models/meta/GLM-4.6.config.json --no-daemon >"$d/out" 2>"$d/err"
check "tui plan metadata: the size side" grep -q '^  457 units, 351.17B weights planned' "$d/size.txt"
check "tui plan metadata: uniform sizes" grep -q '^  int4-g128-sym *182.0 GiB *4.13  yes' "$d/size.txt"
check "tui plan metadata: dKL needs the weights" grep -q '^  dKL needs the weights: a config.json alone has none' "$d/size.txt"
check "tui plan metadata: R says why" sh -c "tail -n 2 '$d/R.txt' | grep -q 'plan panel.s target: metadata only: no weights\$'"
# GPTQ candidates (g) over their committed table: the curve's points are
# GPTQModifier recipes; the applied one shows in the recipe pane
d="$T/gptq"; mkdir -p "$d"
printf 'P g R\n:wait-idle\n<Enter>\n:wait-idle\n<Esc> r\n:dump %s/recipe.txt\n' "$d" >"$d/script"
QTUNE_HOME="$d/home" QTUNE_PLAN_DKL="$(pwd)/tests/refs/plan_dkl_tiny_gptq.json" LC_ALL=C.UTF-8 COLUMNS=120 LINES=40 \
    QTUNE_SCRIPT="$d/script" "$Q" "$M" --no-daemon >"$d/out" 2>"$d/err"
check "tui plan gptq: the applied point is a GPTQModifier recipe" grep -q 'GPTQModifier:' "$d/recipe.txt"
check "tui plan gptq: it is the recipe" grep -q 'recipe 22.9 MiB \[+\]' "$d/recipe.txt"
