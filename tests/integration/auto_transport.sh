#!/bin/sh
# --transport auto (the default): the first requests go over HTTP/2, the server's Alt-Svc
# moves the rest of the call to HTTP/3 on the same port; with --no-h3 (no Alt-Svc) the call
# stays on HTTP/2.
. "$(dirname "$0")/lib.sh"
RIPP_TRANSPORT=auto
start_rippd srv echo
ripp_call "$T/auto.jsonl" --duration 2 || fail "auto call exited $?"
[ "$(jfield "$T/auto.jsonl" transport)" = "h2+h3" ] || fail "auto: $(tail -n 1 "$T/auto.jsonl")"
[ "$(jfield "$T/auto.jsonl" sent)" = "$(jfield "$T/auto.jsonl" acked)" ] || fail "auto: frames not acked"
stop_rippd "$RIPPD_PID"
pass "auto: started on HTTP/2, moved to HTTP/3 (Alt-Svc), sent=acked=$(jfield "$T/auto.jsonl" sent)"

"$RIPPD" --dev --no-h3 --state-dir "$T/noh3" --log-level info >"$T/noh3.json" 2>"$T/noh3.log" &
RIPPD_PID=$!
RIPPD_PIDS="$RIPPD_PIDS $RIPPD_PID"
i=0
while [ ! -s "$T/noh3.json" ]; do
  i=$((i + 1))
  [ $i -le 150 ] || fail "rippd --no-h3 did not start"
  sleep 0.1
done
TRUNK=$(jfield "$T/noh3.json" trunk) TOKEN=$(jfield "$T/noh3.json" token)
CA=$(jfield "$T/noh3.json" ca) KEY=$(jfield "$T/noh3.json" identity_key)
ripp_call "$T/h2only.jsonl" --duration 2 || fail "call to --no-h3 exited $?"
[ "$(jfield "$T/h2only.jsonl" transport)" = "h2" ] || fail "--no-h3: $(tail -n 1 "$T/h2only.jsonl")"
stop_rippd "$RIPPD_PID"
pass "auto against --no-h3: stays on HTTP/2"
