#!/bin/sh
# Bad input while a healthy call runs on the same rippd: every bad request gets its problem,
# and the healthy call loses no frame.
. "$(dirname "$0")/lib.sh"
OTHER_TOKEN=other-trunk-token-0123456789abcdef
mkdir -p "$T/srv"
# a second trunk, to present a valid token of the wrong trunk
cat >"$T/config.json" <<JSON
{"trunks":[{"id":"other","answer":"echo","identity_key":"$T/srv/identity.pub.pem",
            "tokens":["$OTHER_TOKEN"]}]}
JSON
start_rippd_cfg() {
  "$RIPPD" --dev --state-dir "$T/srv" --config "$T/config.json" --log-level info \
    >"$T/srv.json" 2>"$T/srv.log" &
  RIPPD_PID=$!
  RIPPD_PIDS="$RIPPD_PIDS $RIPPD_PID"
  i=0
  while [ ! -s "$T/srv.json" ]; do
    i=$((i + 1)); [ $i -le 150 ] || fail "rippd did not start"; sleep 0.1
  done
  TRUNK=$(jfield "$T/srv.json" trunk) TOKEN=$(jfield "$T/srv.json" token)
  CA=$(jfield "$T/srv.json" ca) KEY=$(jfield "$T/srv.json" identity_key)
  DB="$T/srv/rippd.db"
}
start_rippd_cfg
"$WAVTOOL" gen "$T/speech.wav" --seconds 15
ripp_call "$T/healthy.jsonl" --play "$T/speech.wav" --duration 14 &
HEALTHY=$!
sleep 1
node "$HERE/bad_input.js" "$TRUNK" "$TOKEN" "$CA" "$KEY" "$OTHER_TOKEN" || fail "bad input checks"
wait $HEALTHY || fail "the healthy call exited $?"
sent=$(jfield "$T/healthy.jsonl" sent) acked=$(jfield "$T/healthy.jsonl" acked)
lost=$(jfield "$T/healthy.jsonl" lost) rxc=$(jfield "$T/healthy.jsonl" rx_concealed)
[ "$sent" = "$acked" ] && [ "$lost" = 0 ] || fail "healthy call: sent $sent acked $acked lost $lost"
# the frames it received: none lost by the server either (a frame the jitter buffer got too
# late on a busy machine is concealed, not lost; at most a few are tolerated)
[ "$rxc" -le 25 ] || fail "healthy call: $rxc frames concealed"
id=$(call_id_of "$T/healthy.jsonl")
stop_rippd "$RIPPD_PID"
slost=$(cdr_field "$id" stats.lost) ssent=$(cdr_field "$id" stats.sent)
sacked=$(cdr_field "$id" stats.acked)
[ "$slost" = 0 ] && [ "$ssent" = "$sacked" ] || fail "healthy call, server side: sent $ssent acked $sacked lost $slost"
grep -q ' -> 413 event-too-large' "$T/srv.log" || fail "no log line for the refused event"
pass "bad input refused; healthy call sent=$sent acked=$acked lost=$lost concealed=$rxc; server sent=$ssent acked=$sacked lost=$slost"
