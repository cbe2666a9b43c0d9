#!/bin/sh
# DTMF digits sent with --dtmf arrive in the far end's CDR.
. "$(dirname "$0")/lib.sh"
start_rippd srv echo
ripp_call "$T/call.jsonl" --dtmf '159#*0D' --duration 4 || fail "ripp call exited $?"
id=$(call_id_of "$T/call.jsonl")
stop_rippd "$RIPPD_PID"
digits=$(cdr_field "$id" dtmf)
[ "$digits" = '159#*0D' ] || fail "CDR dtmf is '$digits', want '159#*0D'"
pass "CDR of $id has dtmf $digits"
