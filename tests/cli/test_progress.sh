#!/bin/sh
# The progress bar of the long commands: on a terminal's stderr a bar with
# percent and ETA per stage; piped, not one byte more (no \r, no ESC, no
# bar).  The terminal is script(1)'s pseudo-terminal.
. tests/cli/lib.sh
D=share/data/eval.txt
EV="eval $M --scheme W4A16 --data $D --ctx 64 --chunks 3"
SE="sensitivity $M --scheme W4A16 --data $D --ctx 64 --chunks 2 --by layer"
for c in "$EV" "$SE"; do
    n=${c%% *}
    # shellcheck disable=SC2086
    "$Q" $c >"$T/$n.out" 2>"$T/$n.err"
    if [ -s "$T/$n.err" ]; then fail "progress: $n piped writes nothing on stderr" "$(od -c "$T/$n.err" | head -3)"
    else pass "progress: $n piped writes nothing on stderr"; fi
done
if ! command -v script >/dev/null 2>&1; then
    echo "script(1) not installed: skipping the terminal half"
    exit 0
fi
QB=$(cd "$(dirname "$Q")" && pwd)/$(basename "$Q")
for c in "$EV" "$SE"; do
    n=${c%% *}
    # stdout to a file, stderr on the pseudo-terminal (which script copies)
    TERM=xterm COLUMNS=100 script -qec "$QB $c 2>&1 >$T/$n.tty.out" /dev/null >"$T/$n.tty" 2>&1
    tr '\r' '\n' <"$T/$n.tty" | sed 's/\x1b\[K//g' >"$T/$n.lines"
    if grep -Eq '\[#*-*\] +[0-9]+%  [0-9]+/[0-9]+  [0-9.]+ s  ETA [0-9.]+ s' "$T/$n.lines" &&
       grep -Eq '\[#+\] 100%' "$T/$n.lines"; then pass "progress: $n on a terminal draws a bar with ETA"
    else fail "progress: $n on a terminal draws a bar with ETA" "$(head -c 400 "$T/$n.lines")"; fi
    # the same report (eval's base line says the second run found it cached)
    grep -v '^base ' "$T/$n.out" >"$T/$n.a"; grep -v '^base ' "$T/$n.tty.out" >"$T/$n.b"
    cmp -s "$T/$n.a" "$T/$n.b" && pass "progress: $n stdout unchanged on a terminal" \
        || fail "progress: $n stdout unchanged on a terminal" "$(diff "$T/$n.a" "$T/$n.b" | head -5)"
done
grep -q '^base ' "$T/eval.lines" && grep -q '^quantized ' "$T/eval.lines" && pass "progress: eval names its stages" \
    || fail "progress: eval names its stages" "$(head -c 300 "$T/eval.lines")"
# quantize counts bytes: its bar says how far in binary units, never a raw
# byte count (4194304/33271424)
TERM=xterm COLUMNS=100 script -qec "$QB quantize $M -r recipes/tiny-w4a16.yaml -o $T/q 2>&1 >$T/q.tty.out" /dev/null >"$T/q.tty" 2>&1
tr '\r' '\n' <"$T/q.tty" | sed 's/\x1b\[K//g' >"$T/q.lines"
if grep -Eq '^quantize +\[#+\] 100%  31\.73 MiB/31\.73 MiB ' "$T/q.lines" && ! grep -Eq '[0-9]{6,}/[0-9]{6,}' "$T/q.lines"; then
    pass "progress: quantize shows bytes in MiB"
else fail "progress: quantize shows bytes in MiB" "$(tail -c 400 "$T/q.lines")"; fi
