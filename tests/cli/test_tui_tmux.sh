#!/bin/sh
# End to end under tmux: open the demo model in a real terminal, change the
# bits of an expert group and see its row change, commit (a job on the
# engine daemon), detach, reattach with `qtune attach` and see the finished
# job, resize, quit.  Polls capture-pane until a generous deadline; no
# fixed sleeps.  The tmux server (own socket) and the daemon are stopped at the end.
. tests/cli/lib.sh
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux not installed: skipping the end-to-end TUI test"
    exit 0
fi
SOCK="qtune-e2e-$$"
SESS=e2e$$
. tests/cli/tmux.sh
ENV="env QTUNE_HOME=$H XDG_RUNTIME_DIR=$R QTUNE_TEST_JOBS=1 LC_ALL=C.UTF-8 TERM=xterm-256color"
tm new-session -d -s "$SESS" -x 120 -y 40 "env PS1='qtsh> ' sh"
keys "$ENV $QB $M -s $SESS" Enter
wait_for "tmux: workbench opens" "layer 1  MoE" || exit 0
wait_for "tmux: hint bar with letters" "q quit"
# layer 1 -> its routed experts; int8 then int4 (group 128)
keys j j Enter j j j
wait_for "tmux: expert group selected" "target   re:model\\.layers\\.1\\.mlp\\.experts\\."
grep "routed exper" "$T/screen" | grep -Eq "bf16 +3\.0M +16\.00 +[│|]" && pass "tmux: experts start in bf16, no error" \
    || fail "tmux: experts start in bf16, no error" "$(grep 'routed exper' "$T/screen")"
keys - - - - -
wait_for "tmux: bits change shows in the row" "int4-g128-sym  792.8K"
# the engine's preview of the 48 tensors lands in the row's error column
wait_for "tmux: preview error of the group" 'routed exper.*int4-g128-sym +792\.8K +4\.13 +[0-9]+\.[0-9][0-9] ' -E
wait_for "tmux: status shows the new size" "29.5 MiB [+]"
# commit: the job goes to the daemon; detach at once
keys c
wait_for "tmux: commit submits the jobs" 'job [0-9]+ \((quantize|eval|test)\)' -E
keys d
wait_for "tmux: detach leaves the session running" "detached: session $SESS keeps running"
# reattach: the same screen, with the job (finished by now or soon)
keys "$ENV $QB attach $SESS" Enter
wait_for "tmux: attach brings the workbench back" "routed exper"
keys o
# the committed job (an eval of the recipe: KL against the original, a few
# seconds; quantize + eval once quantize jobs are built in) runs to the end
wait_for "tmux: jobs panel shows the finished job" "#1 .* done" -E
if grep -q "#2 " "$T/screen"; then   # quantize, then eval of the same recipe
    wait_for "tmux: the eval job after it finishes" "#2 .* done" -E
    grep -q "#1 .*quantize.*wrote " "$T/screen" && pass "tmux: the quantize job wrote the checkpoint" \
        || fail "tmux: the quantize job wrote the checkpoint" "$(head -n 8 "$T/screen")"
fi
if grep -q "#[12] .*eval" "$T/screen"; then
    wait_for "tmux: the eval job's KL result" "KL "
fi
keys Escape
# the recipe edit survived the detach (the daemon holds it)
wait_for "tmux: recipe kept across attach" "int4-g128-sym"
# resize: smaller than the minimum, then back
tm resize-window -t "$SESS" -x 70 -y 20
wait_for "tmux: too-small screen" "terminal too small"
tm resize-window -t "$SESS" -x 100 -y 30
wait_for "tmux: redraws after resize" "routed exper"
keys C-l
wait_for "tmux: Ctrl-L repaints" "q quit"
# NO_COLOR: the same screen in monochrome (attributes, no color escapes)
keys d
wait_for "tmux: detach again" "detached: session $SESS keeps running"
keys "$ENV NO_COLOR=1 $QB attach $SESS" Enter
wait_for "tmux: attach with NO_COLOR" "routed exper"
tm capture-pane -e -p -t "$SESS" >"$T/esc"
ESC=$(printf '\033')
if grep -Eq "${ESC}\[([0-9;]*;)?(3[0-7]|4[0-7]|38;5;[0-9]+|48;5;[0-9]+)[;m]" "$T/esc"; then
    fail "tmux: NO_COLOR draws no colors" "$(grep -Eo "${ESC}\[[0-9;]*m" "$T/esc" | sort -u | tr -d '\033' | head -5)"
else pass "tmux: NO_COLOR draws no colors"; fi
grep -Eq "${ESC}\[([0-9;]*;)?7[;m]" "$T/esc" && pass "tmux: monochrome cursor in reverse video" \
    || fail "tmux: monochrome cursor in reverse video" "$(grep -Eo "${ESC}\[[0-9;]*m" "$T/esc" | sort -u | tr -d '\033' | head -5)"
# and with colors, there are colors (the check above can fail)
keys d
wait_for "tmux: detach once more" "detached: session $SESS keeps running"
keys "$ENV $QB attach $SESS" Enter
wait_for "tmux: attach with colors" "routed exper"
tm capture-pane -e -p -t "$SESS" >"$T/esc"
grep -Eq "${ESC}\[([0-9;]*;)?(3[0-7]|4[0-7])[;m]" "$T/esc" && pass "tmux: colors without NO_COLOR" \
    || fail "tmux: colors without NO_COLOR"
# quit: nothing uncommitted, so no question; the idle daemon stops
keys q
prompt_back() {   # the shell prompt is the last line again
    tm capture-pane -p -t "$SESS" | grep -v '^ *$' | tail -n 1 >"$T/last"
    grep -q '^qtsh>' "$T/last"
}
wait_until prompt_back
check "tmux: quit returns to the shell" grep -q '^qtsh>' "$T/last"
not_running() { ! QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls 2>/dev/null | grep -q "$SESS.*running"; }
wait_until not_running
QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls >"$T/ls" 2>&1
if grep -q "$SESS.*running" "$T/ls"; then fail "tmux: quit stops the idle daemon" "$(cat "$T/ls")"
else pass "tmux: quit stops the idle daemon"; fi
