#!/bin/sh
# End to end under tmux (issue 16 point 4): the plan panel on a real
# terminal with the session's engine daemon: P opens it, R runs the plan job
# (over the committed ΔKL table, QTUNE_PLAN_DKL: a second), the curve comes,
# l moves along it, Enter applies the point as the recipe and u undoes it.
# Polls the pane until a generous deadline; no fixed sleeps.
. tests/cli/lib.sh
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux not installed: skipping the end-to-end plan panel test"
    exit 0
fi
SOCK="qtune-plan-$$"
SESS=plan$$
. tests/cli/tmux.sh
DKL=$(pwd)/tests/refs/plan_dkl_tiny.json
ENV="env QTUNE_HOME=$H XDG_RUNTIME_DIR=$R QTUNE_PLAN_DKL=$DKL QTUNE_IDLE_GRACE=1 LC_ALL=C.UTF-8 TERM=xterm-256color"
tm new-session -d -s "$SESS" -x 120 -y 40 "env PS1='qtsh> ' sh"
keys "$ENV $QB $M -s $SESS" Enter
wait_for "tmux plan: workbench opens" "layer 1  MoE" || exit 0
keys P
wait_for "tmux plan: the size side of the target" "target W4A16 size = 22.9 MiB, 4.13 bpw" || exit 0
keys R
wait_for "tmux plan: the curve, the plan selected" "the plan for the target" || exit 0
check "tmux plan: uniform recipes on the plot" grep -q '│.*o' "$T/screen"
keys l l
wait_for "tmux plan: moved along the curve" "point 4 of 19"
keys Enter
wait_for "tmux plan: the point applied" "applied point 4 (23.6 MiB, 5.12 bpw)"
wait_for "tmux plan: the recipe is the point" "recipe 23.6 MiB [+]"
wait_for "tmux plan: the current recipe on the curve" "+ current recipe: 23.6 MiB  5.12 bpw  predicted KL 0.0104"
keys u
wait_for "tmux plan: one undo step back" "undone: recipe version 0"
wait_for "tmux plan: the recipe before" "recipe 31.7 MiB  16.00 bpw"
keys Escape q
stopped() { ! QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls 2>/dev/null | grep -q "^$SESS  *up"; }
if wait_until stopped; then pass "tmux plan: quit stops the engine"
else fail "tmux plan: quit stops the engine" "$(QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls 2>&1)"; fi
