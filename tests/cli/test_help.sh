# qtune --help and CMD --help: every command listed answers --help with its
# own usage (exit 0, stdout), and the overview names no option the command
# does not know.
. tests/cli/lib.sh

$Q --help >"$T/all" 2>&1
check help_exit test $? = 0
cmds=$(sed -n 's/^  qtune \[*\([a-z]*\).*/\1/p' "$T/all")
check help_lists_commands test "$(echo "$cmds" | wc -w)" -ge 14
for c in $cmds; do
    $Q "$c" --help >"$T/$c" 2>"$T/$c.err"
    rc=$?
    check "help_${c}_exit" test "$rc" = 0
    check "help_${c}_usage" grep -q "^usage: qtune \[*$c" "$T/$c"
    # options in the overview line, each known to the command's own help
    missing=""
    for o in $(grep "^  qtune \[*$c\b" "$T/all" | grep -o -- '--[a-z0-9-]*' | sort -u); do
        grep -q -- "$o" "$T/$c" || missing="$missing $o"
    done
    check "help_${c}_options_agree" test -z "$missing"
done
check help_open_calib grep -q -- '--calib FILE' "$T/open"
check help_sensitivity_default_chunks grep -q -- '--chunks 4' "$T/sensitivity"
check help_eval_default_chunks grep -q -- '--chunks 16' "$T/eval"
# the commands the README documents explain their options and defaults
for c in deploy lint inspect attach kill tokenize; do
    check "help_${c}_explains" test "$(wc -l <"$T/$c")" -ge 4
done
check help_deploy_defaults sh -c "grep -q 'default H100-80G' '$T/deploy' && grep -q 'default 8192' '$T/deploy' && grep -q 'default 0.9' '$T/deploy'"
check help_lint_tp_default grep -q 'default 1' "$T/lint"
check help_lint_codes grep -q 'QT016' "$T/lint"
check help_tokenize_pieces grep -q -- '--pieces' "$T/tokenize"
check help_kill_force grep -q -- '--force, -f' "$T/kill"
check help_attach_since grep -q -- '--since SEQ' "$T/attach"
