# One key press, one request: on the GLM-4.6 metadata model (~45,000
# tensors), a key that changes an expert group sends exactly one request on
# the raw protocol (the `edit` intent); the recipe, lint counts, deployment
# and resolution come back in its answer.  The client appends every request
# line it sends to QTUNE_CLIENT_TRACE; the script marks the key in it.
. tests/cli/lib.sh
G=share/models/meta/GLM-4.6.config.json
TR="$T/trace"
cat >"$T/script" <<KEYS
/
:type routed experts
<Enter>
:trace key
-
:trace answered
:dump $T/after.txt
-
:wait-idle
:dump $T/after2.txt
KEYS
QTUNE_HOME="$T/home" COLUMNS=120 LINES=40 QTUNE_CLIENT_TRACE="$TR" QTUNE_SCRIPT="$T/script" \
    "$Q" "$G" --no-daemon >"$T/out" 2>"$T/err"
check "tui requests run" test $? = 0
# the lines between the marks: what the key sent (a script line waits for
# every answer before the next one, so the second mark follows them all)
sed -n '/^# key$/,/^# answered$/p' "$TR" | grep -v '^#' >"$T/key"
check "tui key sends one request" test "$(wc -l <"$T/key")" = 1
check "tui key request is an edit intent" \
    grep -q '"op":"edit","action":"bits-","nodes":\["re:model\\\\.layers\\\\.3\\\\.mlp\\\\.experts\\\\."\]' "$T/key"
check "tui key request is small" test "$(wc -c <"$T/key")" -lt 200
# the answer took effect: the group shows int8, then int7, the status line
# its lint counts and deployment
check "tui key answer shown" grep -q 'routed experts (160).*int8-g128-sym' "$T/after.txt"
check "tui key answer status" grep -Eq '(fits [0-9]+|over 8)xH100-80G' "$T/after.txt"
check "tui second key builds on the first" grep -q 'routed experts (160).*int7-g128-sym' "$T/after2.txt"
