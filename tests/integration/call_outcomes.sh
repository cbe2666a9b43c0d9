#!/bin/sh
# Each call outcome, asserted on the CLI's events, summary and exit status, and on the CDR.
. "$(dirname "$0")/lib.sh"
CASE=$1

events() { grep -o '"name":"[a-z-]*"' "$1" | sed 's/"name":"//; s/"//' | tr '\n' ' '; }

case $CASE in
ring)
  start_rippd srv ring:1
  ripp_call "$T/c.jsonl" --duration 2 || fail "ringing then answered call exited $?"
  ev=$(events "$T/c.jsonl")
  [ "$ev" = "alerting accepted end " ] || fail "events: $ev"
  [ "$(jfield "$T/c.jsonl" outcome)" = ended_local ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  ;;
reject)
  start_rippd srv reject:486
  status=0
  ripp_call "$T/c.jsonl" || status=$?
  [ $status -ne 0 ] || fail "a rejected call must exit non-zero"
  grep -q '"name":"rejected"' "$T/c.jsonl" || fail "the rejected event was not printed"
  grep -q '"code":486' "$T/c.jsonl" || fail "the 486 code was not printed"
  [ "$(jfield "$T/c.jsonl" outcome)" = rejected ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  ;;
failed)
  start_rippd srv reject:404
  status=0
  ripp_call "$T/c.jsonl" || status=$?
  [ $status -ne 0 ] || fail "a failed call must exit non-zero"
  grep -q '"name":"failed"' "$T/c.jsonl" || fail "the failed event was not printed"
  [ "$(jfield "$T/c.jsonl" code)" = 404 ] || fail "code $(jfield "$T/c.jsonl" code)"
  ;;
noanswer)
  start_rippd srv noanswer:1
  status=0
  ripp_call "$T/c.jsonl" || status=$?
  [ $status -ne 0 ] || fail "an unanswered call must exit non-zero"
  ev=$(events "$T/c.jsonl")
  [ "$ev" = "alerting noanswer " ] || fail "events: $ev"
  [ "$(jfield "$T/c.jsonl" outcome)" = noanswer ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  ;;
caller_end)
  start_rippd srv echo
  ripp_call "$T/c.jsonl" --duration 2 || fail "exit $?"
  [ "$(jfield "$T/c.jsonl" outcome)" = ended_local ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  grep -q '"name":"end".*"direction":"c2s"' "$T/c.jsonl" || fail "no end sent by the caller"
  ;;
callee_end)
  start_rippd srv echo,hangup=2
  ripp_call "$T/c.jsonl" --duration 20 || fail "a call ended by the callee is a normal end; exit $?"
  [ "$(jfield "$T/c.jsonl" outcome)" = ended_remote ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  grep -q '"name":"end".*"direction":"s2c"' "$T/c.jsonl" || fail "no end from the callee"
  talk=$(jfield "$T/c.jsonl" talk_s)
  num_ge 5 "$talk" || fail "the call lasted $talk s, the callee hangs up after 2 s"
  ;;
cancel)
  start_rippd srv ring:30
  status=0
  ripp_call "$T/c.jsonl" --ring-timeout 1 || status=$?
  [ $status -ne 0 ] || fail "a cancelled call must exit non-zero"
  [ "$(jfield "$T/c.jsonl" outcome)" = cancelled ] || fail "outcome $(jfield "$T/c.jsonl" outcome)"
  ev=$(events "$T/c.jsonl")
  [ "$ev" = "alerting end " ] || fail "events: $ev"
  ;;
*) fail "unknown case $CASE" ;;
esac
id=$(call_id_of "$T/c.jsonl")
stop_rippd "$RIPPD_PID"
want=$(jfield "$T/c.jsonl" outcome)
# the far end sees the mirror image of an answered call's end
case $want in ended_local) want=ended_remote ;; ended_remote) want=ended_local ;; esac
got=$(cdr_field "$id" outcome)
[ "$got" = "$want" ] || fail "CDR outcome $got, want $want"
pass "$CASE: events [$(events "$T/c.jsonl")], CDR outcome $got"
