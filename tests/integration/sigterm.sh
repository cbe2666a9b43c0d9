#!/bin/sh
# SIGTERM ends live calls with an end event and rippd exits cleanly.
. "$(dirname "$0")/lib.sh"
start_rippd srv echo
ripp_call "$T/c.jsonl" --duration 30 &
CALL=$!
sleep 2
stop_rippd "$RIPPD_PID"
wait $CALL || fail "the caller must see a normal end (exit $?)"
[ "$(jfield "$T/c.jsonl" outcome)" = ended_remote ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
grep -q '"name":"end".*"direction":"s2c".*"shutdown"' "$T/c.jsonl" || fail "no end with reason shutdown"
pass "SIGTERM ended the call with end/shutdown"
