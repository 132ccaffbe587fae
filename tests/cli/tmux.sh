# tmux.sh — sourced by the end-to-end tests under tmux, after lib.sh, with
# SOCK (the tmux server's own socket name) and SESS (the qtune session, also
# the tmux session) set.  Gives the session its own QTUNE_HOME ($H) and
# runtime directory ($R), the absolute qtune binary ($QB), and:
#   tm ARGS...          tmux on the test's own server
#   keys KEYS...        send-keys to the session's pane
#   wait_for NAME TEXT [-E]
#                       polls the pane until it shows TEXT (a fixed string,
#                       or an extended regex with -E), for at most
#                       $QTUNE_TEST_WAIT seconds (lib.sh's generous
#                       deadline); passes NAME, or fails it with the screen
# and stops the daemon and the tmux server on exit.
H="$T/home"; R="$T/run"
mkdir -p "$H" "$R"; chmod 700 "$R"
QB=$(cd "$(dirname "$Q")" && pwd)/$(basename "$Q")
tm() { tmux -L "$SOCK" "$@"; }
cleanup() {
    QTUNE_HOME="$H" XDG_RUNTIME_DIR="$R" "$QB" kill --force "$SESS" >/dev/null 2>&1
    tm kill-server >/dev/null 2>&1
}
trap cleanup EXIT INT TERM
on_screen() {
    tm capture-pane -p -t "$SESS" >"$T/screen" 2>/dev/null
    grep -q "$1" -- "$2" "$T/screen"
}
wait_for() {
    if wait_until on_screen "${3:--F}" "$2"; then pass "$1"; return 0; fi
    fail "$1" "no '$2' on screen: $(head -n 40 "$T/screen")"
    return 1
}
keys() { tm send-keys -t "$SESS" "$@"; }
