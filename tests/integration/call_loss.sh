#!/bin/sh
# A call across a lossy, delaying path: rippd (echo trunk) in namespace B, `ripp call` in
# namespace A, 20 ms each way between them (40 ms RTT) and PERMILLE/1000 of the TCP and
# UDP packets dropped in each direction.
#   call_loss.sh TRANSPORT PERMILLE SECONDS        TRANSPORT: h2 or h3
# Exit 77 (skipped) without root/namespaces, or for h3 when this build has no HTTP/3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
TRANSPORT=$1 PERMILLE=$2 SECS=$3

netns_usable || { echo "SKIP: needs root, ip, nft, /dev/net/tun and the tools"; exit 77; }
NETNS_ON_EXIT=cleanup
netns_setup || fail "cannot set up the namespaces"
netns_delay 20 || fail "cannot start the delay line"
netns_rtt 10 >"$T/rtt.json" || fail "no round trip through the delay line"
rtt=$(jfield "$T/rtt.json" rtt_avg_ms)
num_ge "$rtt" 39 && num_ge 50 "$rtt" || fail "RTT $rtt ms through the delay line, want 40"
pass "path A-B: RTT $rtt ms (ripp-udpbase ping)"

"$WAVTOOL" gen "$T/speech.wav" --seconds "$SECS" --seed 11

# rippd in B, listening on B's address (its certificate names that address)
ip netns exec "$NS_B" "$RIPPD" --dev --listen $ADDR_B --state-dir "$T/srv" --answer echo \
  --log-level info >"$T/srv.json" 2>"$T/srv.log" &
RIPPD_PID=$!
RIPPD_PIDS="$RIPPD_PIDS $RIPPD_PID"
i=0
while [ ! -s "$T/srv.json" ]; do
  i=$((i + 1))
  [ $i -le 150 ] || fail "rippd did not start"
  kill -0 "$RIPPD_PID" 2>/dev/null || fail "rippd exited at start"
  sleep 0.1
done
TRUNK=$(jfield "$T/srv.json" trunk)
TOKEN=$(jfield "$T/srv.json" token)
CA=$(jfield "$T/srv.json" ca)
KEY=$(jfield "$T/srv.json" identity_key)
DB="$T/srv/rippd.db"

# call_in_a OUT ARGS...: ripp call from namespace A; returns its exit status.
call_in_a() {
  out=$1
  shift
  ip netns exec "$NS_A" timeout $((SECS + 60)) "$RIPP" call --trunk "$TRUNK" --token "$TOKEN" \
    --ca "$CA" --identity-key "$KEY" --to +14085551212 --from +14085550100 --quiet "$@" \
    >"$out" 2>"$out.log"
}

TOPT=""
if [ "$TRANSPORT" = h3 ]; then
  # HTTP/3 only when this build's client has it: a short trial call, before any loss
  "$RIPP" call --help 2>&1 | grep -q -- '--transport' ||
    { echo "SKIP: ripp call has no --transport option (no HTTP/3 in this build)"; exit 77; }
  if ! call_in_a "$T/trial.jsonl" --transport h3 --duration 1; then
    if grep -qiE 'unsupported|not supported|not available|not built|no http/3' \
      "$T/trial.jsonl.log"; then
      echo "SKIP: HTTP/3 not available: $(head -n 1 "$T/trial.jsonl.log")"
      exit 77
    fi
    fail "the HTTP/3 trial call failed: $(tail -n 3 "$T/trial.jsonl.log")"
  fi
  TOPT="--transport h3"
elif [ "$TRANSPORT" != h2 ]; then
  fail "transport $TRANSPORT: want h2 or h3"
elif "$RIPP" call --help 2>&1 | grep -q -- '--transport'; then
  TOPT="--transport h2"
fi

netns_loss_both "$PERMILLE" || fail "cannot set the loss with nft"
start=$(date +%s)
# shellcheck disable=SC2086
call_in_a "$T/call.jsonl" $TOPT --play "$T/speech.wav" --duration "$SECS" ||
  fail "ripp call exited $? after $(($(date +%s) - start)) s"
drop_a=$(netns_loss_dropped "$NS_A")
drop_b=$(netns_loss_dropped "$NS_B")
netns_loss_both 0
cat "$T/call.jsonl"
# the loss was really there, both ways
if [ "$PERMILLE" -gt 0 ]; then
  [ "$drop_a" -gt 0 ] && [ "$drop_b" -gt 0 ] ||
    fail "nft dropped $drop_b packets towards B and $drop_a towards A: no loss applied"
fi

c() { jfield "$T/call.jsonl" "$1"; }
[ "$(c outcome)" = ended_local ] || fail "outcome $(c outcome), want ended_local"
[ "$(c answered)" = true ] || fail "not answered"
talk=$(c talk_s)
num_ge "$talk" "$((SECS - 1))" || fail "talk time $talk s, want $SECS s"

# check_side WHO SENT ACKED LOST RXF RXC RTTP99 TALK: the counters of one sending direction,
# TALK the seconds its sender produced media.
# ripp_stats: `sent` counts frames written on a byway; `lost` counts frames never acked:
# written but whose byway stalled (no ack within 1 s), was reset or was still in flight at
# the end, and also frames dropped before being written (the 200 ms congestion queue).
# So every frame produced is acked or lost: acked <= sent <= acked + lost, and
# acked + lost = frames produced = 50 per second of talk time.
check_side() {
  who=$1 sent=$2 acked=$3 lost=$4 rxf=$5 rxc=$6 p99=$7 secs=$8
  produced=$((acked + lost))
  [ "$acked" -le "$sent" ] || fail "$who: acked $acked > sent $sent"
  [ "$sent" -le "$produced" ] || fail "$who: sent $sent > acked $acked + lost $lost"
  want=$(node -e "console.log(Math.round(Number(process.argv[1]) * 50))" "$secs")
  diff=$((produced - want))
  [ ${diff#-} -le $((want / 50 + 5)) ] ||
    fail "$who: acked + lost = $produced frames, but $secs s of talk produce $want"
  # little is lost: at 2 % packet loss each way a frame is lost only when its byway stalls
  # for a second or the congestion queue overflows
  [ $((lost * 20)) -lt "$produced" ] || fail "$who: lost $lost of $produced frames (>= 5 %)"
  # No byway stays blocked for good, and acks continue to the end: a frame whose ack does
  # not come is declared lost after 1 s and its byway replaced, and had acks stopped T
  # seconds before the end, every frame of those T seconds would be lost (lost >= 50 T):
  # with fewer than 50 lost, acks went on until the last second.
  [ "$lost" -lt 50 ] || fail "$who: $lost frames lost: acks may have stopped before the end"
  num_ge 1000 "$p99" || fail "$who: ack RTT p99 $p99 ms: acks come later than the stall timeout"
  # the receiving side played the whole call: frames received plus slots concealed
  [ $(((rxf + rxc) * 100)) -ge $((want * 95)) ] ||
    fail "$who: received $rxf + concealed $rxc slots, want about $want"
  pass "$who: sent $sent acked $acked lost $lost (of $produced produced), peer rx $rxf + concealed $rxc, ack RTT p99 $p99 ms"
}

id=$(call_id_of "$T/call.jsonl")
stop_rippd "$RIPPD_PID"
"$RIPPD" --db "$DB" --cdrs >"$T/cdrs.jsonl"
grep "\"call_id\":\"$id\"" "$T/cdrs.jsonl" >"$T/cdr.json" || fail "no CDR for call $id"
cat "$T/cdr.json"
s() { jfield "$T/cdr.json" "stats.$1"; }
[ "$(jfield "$T/cdr.json" outcome)" = ended_remote ] ||
  fail "CDR outcome $(jfield "$T/cdr.json" outcome), want ended_remote"
# caller -> trunk: the caller's send counters, the trunk's receive counters
check_side "caller->trunk" "$(c sent)" "$(c acked)" "$(c lost)" "$(s rx_frames)" \
  "$(s rx_concealed)" "$(c rtt_p99_ms)" "$talk"
# trunk -> caller (the echo): the CDR's send counters, the caller's receive counters. The
# trunk produces from its answer to the end it receives: longer than the caller's talk time
# by the accepted event's trip, which a lost packet can stretch by a TCP retransmission.
srv_talk=$(node -e "console.log((Number(process.argv[2]) - Number(process.argv[1])) / 1000)" \
  "$(jfield "$T/cdr.json" answer_ms)" "$(jfield "$T/cdr.json" end_ms)")
check_side "trunk->caller" "$(s sent)" "$(s acked)" "$(s lost)" "$(c rx_frames)" \
  "$(c rx_concealed)" "$(s rtt_p99_ms)" "$srv_talk"
pass "$TRANSPORT at $PERMILLE permille loss each way, 40 ms RTT: the call stayed up $talk s; nft dropped $drop_b packets towards B, $drop_a towards A"
