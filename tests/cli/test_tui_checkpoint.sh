#!/bin/sh
# A checkpoint qtune wrote opens as what it is: `qtune inspect` names its
# stored size and schemes (not BF16) with the dtype column aligned, and the
# workbench starts from its recipe.yaml, showing the real schemes, sizes
# and bpw instead of every tensor in bf16.
. tests/cli/lib.sh
CT="$T/ct"
"$Q" quantize "$M" -r recipes/tiny-w4a16.yaml -o "$CT" >"$T/q.out" 2>"$T/q.err" \
    || { fail "checkpoint: quantize" "$(cat "$T/q.err")"; exit 0; }
"$Q" inspect "$CT" >"$T/inspect" 2>&1
head -n 5 "$T/inspect" | grep '^params' >"$T/params"
grep -q 'on disk.*int4-g128-sym.*pack-quantized' "$T/params" && ! grep -Eq 'MiB +BF16$' "$T/params" \
    && pass "checkpoint: inspect's header names the stored size and scheme" \
    || fail "checkpoint: inspect's header names the stored size and scheme" "$(cat "$T/params")"
"$Q" inspect "$CT" --json >"$T/inspect.json" 2>&1
grep -q '"stored":[[:space:]]*"int4-g128-sym"' "$T/inspect.json" && grep -q '"disk_bytes"' "$T/inspect.json" \
    && pass "checkpoint: inspect --json gives disk_bytes and the stored scheme" \
    || fail "checkpoint: inspect --json gives disk_bytes and the stored scheme" "$(head -c 300 "$T/inspect.json")"
# every row's params value ends where the header's "params" does
awk '/^  role +tensor/ { end = index($0, "params") + 5; next }
     end && /^  [a-z_]+ +[a-z.{}_0-9,]+ +\[/ && !/\(/ {
         n++; if (substr($0, end, 1) == " " || substr($0, end + 1, 1) != " ") { bad++; print } }
     END { if (!n) print "no rows"; exit (bad || !n) }' "$T/inspect" >"$T/misaligned" \
    && pass "checkpoint: inspect's dtype column stays aligned" \
    || fail "checkpoint: inspect's dtype column stays aligned" "$(head -n 3 "$T/misaligned")"
# the workbench: the checkpoint's recipe, resolved
printf ':wait-idle\n:dump %s/open.txt\n' "$T" >"$T/script"
if QTUNE_HOME="$T/home" LC_ALL=C.UTF-8 COLUMNS=120 LINES=30 QTUNE_SCRIPT="$T/script" "$Q" "$CT" --no-daemon \
        >"$T/tui.out" 2>"$T/tui.err"; then
    head -n 1 "$T/open.txt" | grep -q '172 quantized' && ! head -n 1 "$T/open.txt" | grep -q '16.00 bpw' \
        && pass "checkpoint: the workbench shows the quantized modules" \
        || fail "checkpoint: the workbench shows the quantized modules" "$(head -n 1 "$T/open.txt")"
    grep -q 'layer 0  dense .*int4-g128-sym' "$T/open.txt" \
        && pass "checkpoint: the tree shows the checkpoint's scheme" \
        || fail "checkpoint: the tree shows the checkpoint's scheme" "$(head -n 6 "$T/open.txt")"
else
    fail "checkpoint: the workbench opens it" "$(head -c 300 "$T/tui.err")"
fi
