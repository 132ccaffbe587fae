# The suite's waits are for events, bounded by a generous deadline
# (lib.sh's wait_until, WAIT_S in the unit tests), never by a count of
# short sleeps that a loaded machine exhausts: a poll loop that counts
# iterations next to a sleep is reported with its file and line.
. tests/cli/lib.sh
bad=0
for f in tests/cli/*.sh tests/unit/*.c; do
    case $f in tests/cli/test_waits.sh) continue;; esac
    # a counted loop ("-lt N" in sh, "i < N" in C) with a sleep within 8 lines
    out=$(awk '
        /while \[ \$[a-z]+ -lt "?(\$\{[A-Z_]+:-)?[0-9]|for \(int [a-z]+ = 0; [a-z]+ < [0-9]+[^;]*;/ { at = FNR; text = $0 }
        at && FNR - at <= 8 && /sleep/ { print FILENAME ":" at ": " text; at = 0 }
        at && FNR - at > 8 { at = 0 }' "$f")
    if [ -n "$out" ]; then echo "$out"; bad=1; fi
done
check waits_are_deadlines test $bad = 0
# the deadline helper gives up once its limit passes, and returns at once
# when the event is already there
QTUNE_TEST_WAIT=1 wait_until false
check wait_until_gives_up test $? = 1
check wait_until_event wait_until true
