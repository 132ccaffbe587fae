#!/bin/sh
# End to end under tmux (issue 17 point 10): quitting while a job runs says
# that the session keeps running and the engine stops once the job is done
# (QTUNE_IDLE_GRACE after it, no client attached).  Polls the pane until a
# generous deadline; no fixed sleeps.  (Mouse events are tested by script in
# test_tui_nav.sh: tmux's send-keys splits an escape sequence.)
. tests/cli/lib.sh
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux not installed: skipping the end-to-end TUI navigation test"
    exit 0
fi
SOCK="qtune-quit-$$"
SESS=nav$$
. tests/cli/tmux.sh
ENV="env QTUNE_HOME=$H XDG_RUNTIME_DIR=$R QTUNE_IDLE_GRACE=1 LC_ALL=C.UTF-8 TERM=xterm-256color"
tm new-session -d -s "$SESS" -x 120 -y 24 "env PS1='qtsh> ' sh"
keys "$ENV $QB $M -s $SESS" Enter
wait_for "tmux quit: workbench opens" "layer 1  MoE" || exit 0
keys j j Enter
wait_for "tmux quit: layer 1 open" "routed exper"
# a dKL scan (a job of seconds), then quit at once: the session says it
# keeps running and that the engine stops after the job
keys e
keys q
wait_for "tmux quit: quit with a job running says so" "its engine stops 1 s after the last one"
not_running() { ! QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls 2>/dev/null | grep -q "^$SESS  *up"; }
if wait_until not_running; then pass "tmux quit: the engine stops once the job is done"
else fail "tmux quit: the engine stops once the job is done" "$(QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" ls 2>&1)"; fi
