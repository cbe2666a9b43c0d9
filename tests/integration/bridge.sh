#!/bin/sh
# Bridging: ripp -> rippd "near" (answer bridge:URL) -> rippd "far" (the callee), each leg
# with its own call, sequence numbers and CDR.
#   bridge.sh echo | dtmf | reject | callee_end | cancel | unreachable | bad_token |
#             far_killed | caller_killed | near_sigterm | noanswer | failed | config
. "$(dirname "$0")/lib.sh"
CASE=$1

events() { grep -o '"name":"[a-z-]*"' "$1" | sed 's/"name":"//; s/"//' | tr '\n' ' '; }

# start_near URL TOKEN CA: the bridging rippd; it trusts the far trunk's caller key, so that
# the PASSporT ripp signs verifies on both hops (it is forwarded as it is).
start_near() {
  "$RIPPD" --dev --state-dir "$T/near" --answer "bridge:$1" --bridge-token "$2" \
    --bridge-ca "$3" --identity-pub "$T/far/identity.pub.pem" --log-level info \
    >"$T/near.json" 2>"$T/near.log" &
  NEAR_PID=$!
  RIPPD_PIDS="$RIPPD_PIDS $NEAR_PID"
  i=0
  while [ ! -s "$T/near.json" ]; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "the bridging rippd did not start"
    kill -0 "$NEAR_PID" 2>/dev/null || fail "the bridging rippd exited at start"
    sleep 0.1
  done
  TRUNK=$(jfield "$T/near.json" trunk)
  TOKEN=$(jfield "$T/near.json" token)
  CA=$(jfield "$T/near.json" ca)
  NEAR_DB="$T/near/rippd.db"
}

# cdr_of DB CALL_ID KEY
cdr_of() {
  "$RIPPD" --db "$1" --cdrs >"$T/cdrs.jsonl"
  grep "\"call_id\":\"$2\"" "$T/cdrs.jsonl" >"$T/cdr.json" || fail "no CDR for call $2 in $1"
  jfield "$T/cdr.json" "$3"
}

case $CASE in
  reject) FAR=reject:486 ;;
  failed) FAR=reject:404 ;;
  noanswer) FAR=noanswer:1 ;;
  callee_end) FAR=echo,hangup=2 ;;
  cancel) FAR=ring:10 ;;
  *) FAR="echo" ;;
esac
start_rippd far "$FAR"
FAR_PID=$RIPPD_PID FAR_TRUNK=$TRUNK FAR_TOKEN=$TOKEN FAR_CA=$CA FAR_KEY=$KEY FAR_DB=$DB
case $CASE in
  unreachable)
    # a trunk URL whose port nobody listens on any more
    stop_rippd "$FAR_PID"
    start_near "$FAR_TRUNK" "$FAR_TOKEN" "$FAR_CA"
    ;;
  bad_token) start_near "$FAR_TRUNK" "not-the-token-of-that-trunk" "$FAR_CA" ;;
  config)
    # the bridge configured in a --config file: "answer", "bridge_token", "bridge_ca"
    port=$(node -e 'const s = require("net").createServer();
      s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
    printf '%s\n' "{\"listen\": \"127.0.0.1\", \"port\": $port," \
      "\"cert\": \"$T/far/cert.pem\", \"key\": \"$T/far/key.pem\", \"db\": \"$T/near.db\"," \
      "\"trunks\": [{\"id\": \"edge\", \"tokens\": [\"edge-token-0123456789\"]," \
      "\"identity_key\": \"$T/far/identity.pub.pem\", \"answer\": \"bridge:$FAR_TRUNK\"," \
      "\"bridge_token\": \"$FAR_TOKEN\", \"bridge_ca\": \"$FAR_CA\"}]}" >"$T/near.conf"
    "$RIPPD" --config "$T/near.conf" --log-level info 2>"$T/near.log" &
    NEAR_PID=$!
    RIPPD_PIDS="$RIPPD_PIDS $NEAR_PID"
    i=0
    until grep -q "listening on" "$T/near.log"; do
      i=$((i + 1))
      [ $i -le 150 ] || fail "the configured bridge did not start"
      kill -0 "$NEAR_PID" 2>/dev/null || fail "the configured bridge exited at start"
      sleep 0.1
    done
    TRUNK="https://127.0.0.1:$port/trunks/edge" TOKEN=edge-token-0123456789 CA=$FAR_CA
    NEAR_DB="$T/near.db"
    ;;
  *) start_near "$FAR_TRUNK" "$FAR_TOKEN" "$FAR_CA" ;;
esac
KEY=$FAR_KEY

status=0
t0=$(date +%s)
case $CASE in
  echo)
    "$WAVTOOL" gen "$T/speech.wav" --seconds 10 --seed 7
    ripp_call "$T/c.jsonl" --codec pcmu --play "$T/speech.wav" --record "$T/heard.wav" \
      --duration 10 || fail "ripp call exited $?"
    ;;
  dtmf | config) ripp_call "$T/c.jsonl" --dtmf '159#*0D' --duration 4 || fail "ripp call exited $?" ;;
  callee_end) ripp_call "$T/c.jsonl" --duration 20 || fail "a callee's end is normal; exit $?" ;;
  cancel) ripp_call "$T/c.jsonl" --ring-timeout 1 || status=$? ;;
  far_killed)
    # the callee's rippd dies mid-call: leg B tries to recover for its recovery window
    # (5 s), then the bridge ends the caller's call; nothing hangs or crashes
    (sleep 2 && kill -KILL "$FAR_PID") &
    ripp_call "$T/c.jsonl" --duration 14 || status=$?
    ;;
  near_sigterm)
    # the bridge is stopped mid-call: both legs get its end ("shutdown")
    (sleep 2 && kill -TERM "$NEAR_PID") &
    ripp_call "$T/c.jsonl" --duration 20 || status=$?
    i=0
    while kill -0 "$NEAR_PID" 2>/dev/null; do
      i=$((i + 1))
      [ $i -le 100 ] || fail "the bridge did not exit within 10 s of SIGTERM"
      sleep 0.1
    done
    wait "$NEAR_PID" || fail "the bridge exited with status $?"
    near_id=$(call_id_of "$T/c.jsonl")
    stop_rippd "$FAR_PID"
    [ "$(jfield "$T/c.jsonl" outcome)" = ended_remote ] || fail "caller outcome"
    grep -q '"name":"end".*"shutdown"' "$T/c.jsonl" || fail "the caller got no shutdown end"
    hop=$(cdr_of "$NEAR_DB" "$near_id" next_hop | head -n 1)
    o=$(cdr_of "$FAR_DB" "${hop##*/}" outcome)
    [ "$o" = ended_remote ] || fail "far CDR outcome $o, want ended_remote"
    grep -q 'received end' "$T/far.log" || fail "the far rippd did not receive the end"
    pass "bridge stopped mid-call: caller and far end both got its end"
    exit 0
    ;;
  caller_killed)
    # the caller dies mid-call: the bridge's hold timer ends leg A, and the bridge ends B
    "$RIPP" call --transport "$RIPP_TRANSPORT" --trunk "$TRUNK" --token "$TOKEN" \
      --ca "$CA" --identity-key "$KEY" --to +14085551212 --from +14085550100 --duration 60 \
      >"$T/c.jsonl" 2>"$T/c.jsonl.log" &
    rpid=$!
    i=0
    until grep -q '"name":"accepted"' "$T/c.jsonl" 2>/dev/null; do
      i=$((i + 1))
      [ $i -le 100 ] || fail "the call was not answered"
      sleep 0.1
    done
    sleep 1
    kill -KILL $rpid
    wait $rpid 2>/dev/null || true
    # the far end must see its call end (bridge hold timer 5 s + the end crossing over)
    i=0
    while :; do
      "$RIPPD" --db "$FAR_DB" --cdrs >"$T/far_cdrs.jsonl"
      [ -s "$T/far_cdrs.jsonl" ] && break
      i=$((i + 1))
      [ $i -le 150 ] || fail "the far call did not end within 15 s of the caller's death"
      sleep 0.1
    done
    elapsed=$(($(date +%s) - t0))
    far_outcome=$(jfield "$T/far_cdrs.jsonl" outcome)
    [ "$far_outcome" = ended_remote ] || fail "far CDR outcome $far_outcome, want ended_remote"
    # the caller printed no summary: take the call from the bridge's log
    near_id=$(grep -o 'call [0-9a-f-]* created' "$T/near.log" | head -1 | cut -d' ' -f2)
    stop_rippd "$NEAR_PID"
    stop_rippd "$FAR_PID"
    o=$(cdr_of "$NEAR_DB" "$near_id" outcome)
    [ "$o" = hold_timeout ] || fail "bridge CDR outcome $o, want hold_timeout"
    pass "caller killed: bridge ended leg A by its hold timer and the far call ($far_outcome) within $elapsed s"
    exit 0
    ;;
  *) ripp_call "$T/c.jsonl" || status=$? ;;
esac
elapsed=$(($(date +%s) - t0))
outcome=$(jfield "$T/c.jsonl" outcome)
ev=$(events "$T/c.jsonl")

near_id=$(call_id_of "$T/c.jsonl")
[ -n "$near_id" ] || fail "no call was created on the bridge"
stop_rippd "$NEAR_PID"
case $CASE in unreachable | far_killed) ;; *) stop_rippd "$FAR_PID" ;; esac
near_outcome=$(cdr_of "$NEAR_DB" "$near_id" outcome)
hop=$(cdr_of "$NEAR_DB" "$near_id" next_hop | head -n 1) # the URI; then what reattaching needs
far_id=${hop##*/}

case $CASE in
  echo | dtmf | config)
    [ "$outcome" = ended_local ] || fail "outcome $outcome, want ended_local"
    [ "$near_outcome" = ended_remote ] || fail "bridge CDR outcome $near_outcome"
    [ -n "$hop" ] || fail "the bridge CDR names no next hop"
    case $hop in "$(dirname "$FAR_TRUNK" | sed 's|/trunks$||')/call/"*) ;;
      *) fail "next hop $hop is not a call of the far rippd" ;; esac
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = ended_remote ] ||
      fail "far CDR outcome $(cdr_of "$FAR_DB" "$far_id" outcome), want ended_remote"
    [ "$(cdr_of "$NEAR_DB" "$far_id" outcome)" = ended_local ] ||
      fail "the bridge's CDR of leg B: $(cdr_of "$NEAR_DB" "$far_id" outcome), want ended_local"
    ;;
esac

case $CASE in
  echo)
    sent=$(jfield "$T/c.jsonl" sent)
    acked=$(jfield "$T/c.jsonl" acked)
    lost=$(jfield "$T/c.jsonl" lost)
    [ "$sent" -ge 490 ] || fail "only $sent frames sent in 10 s"
    [ "$sent" = "$acked" ] || fail "sent $sent != acked $acked"
    [ "$lost" = 0 ] || fail "$lost frames lost on loopback"
    far_rx=$(cdr_of "$FAR_DB" "$far_id" stats.rx_frames)
    num_ge "$far_rx" 480 || fail "the far end received $far_rx frames through the bridge"
    "$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
      >"$T/cmp.json" || fail "compare failed"
    cat "$T/cmp.json"
    snr=$(jfield "$T/cmp.json" seg_snr_median_db)
    xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
    speech=$(jfield "$T/cmp.json" speech_segments)
    num_ge "$snr" 30 || fail "SNR $snr dB < 30 dB through two hops"
    num_ge "$xcorr" 0.97 || fail "cross-correlation $xcorr < 0.97"
    num_ge "$speech" 50 || fail "only $speech speech segments of 100 ms compared"
    pass "echo through the bridge: median segment SNR $snr dB, xcorr $xcorr, lag $(jfield "$T/cmp.json" lag_ms) ms, far end received $far_rx frames"
    ;;
  dtmf | config)
    # the bridge token is never logged
    ! grep -q -- "$FAR_TOKEN" "$T/near.log" || fail "the bridge token appears in the log"
    digits=$(cdr_of "$FAR_DB" "$far_id" dtmf)
    [ "$digits" = '159#*0D' ] || fail "far CDR dtmf is '$digits', want '159#*0D'"
    digits=$(cdr_of "$NEAR_DB" "$near_id" dtmf)
    [ "$digits" = '159#*0D' ] || fail "bridge CDR dtmf is '$digits', want '159#*0D'"
    pass "DTMF through the bridge: far CDR $far_id has $digits"
    ;;
  reject)
    [ $status -ne 0 ] || fail "a rejected call must exit non-zero"
    [ "$outcome" = rejected ] || fail "outcome $outcome, want rejected"
    [ "$(jfield "$T/c.jsonl" code)" = 486 ] || fail "code $(jfield "$T/c.jsonl" code), want 486"
    [ "$near_outcome" = rejected ] || fail "bridge CDR outcome $near_outcome"
    [ "$(cdr_of "$NEAR_DB" "$near_id" end_code)" = 486 ] || fail "bridge CDR code"
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = rejected ] || fail "far CDR outcome"
    pass "reject through the bridge: events [$ev], code 486"
    ;;
  failed)
    [ $status -ne 0 ] || fail "a failed call must exit non-zero"
    [ "$outcome" = failed ] || fail "outcome $outcome, want failed"
    [ "$(jfield "$T/c.jsonl" code)" = 404 ] || fail "code $(jfield "$T/c.jsonl" code), want 404"
    grep -q '"name":"failed".*"reason":"Not Found"' "$T/c.jsonl" || fail "no reason phrase"
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = failed ] || fail "far CDR outcome"
    pass "failed through the bridge: events [$ev], code 404"
    ;;
  noanswer)
    [ $status -ne 0 ] || fail "an unanswered call must exit non-zero"
    [ "$outcome" = noanswer ] || fail "outcome $outcome, want noanswer"
    [ "$ev" = "alerting noanswer " ] || fail "events: $ev"
    [ "$near_outcome" = noanswer ] || fail "bridge CDR outcome $near_outcome"
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = noanswer ] || fail "far CDR outcome"
    pass "noanswer through the bridge: events [$ev]"
    ;;
  callee_end)
    [ "$outcome" = ended_remote ] || fail "outcome $outcome, want ended_remote"
    grep -q '"name":"end".*"direction":"s2c"' "$T/c.jsonl" || fail "no end from the bridge"
    talk=$(jfield "$T/c.jsonl" talk_s)
    num_ge 5 "$talk" || fail "the call lasted $talk s, the callee hangs up after 2 s"
    [ "$near_outcome" = ended_local ] || fail "bridge CDR outcome $near_outcome"
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = ended_local ] || fail "far CDR outcome"
    pass "callee end through the bridge after $talk s"
    ;;
  cancel)
    [ $status -ne 0 ] || fail "a cancelled call must exit non-zero"
    [ "$outcome" = cancelled ] || fail "outcome $outcome, want cancelled"
    [ "$ev" = "alerting end " ] || fail "events: $ev"
    [ "$near_outcome" = cancelled ] || fail "bridge CDR outcome $near_outcome"
    [ "$(cdr_of "$FAR_DB" "$far_id" outcome)" = cancelled ] ||
      fail "far CDR outcome $(cdr_of "$FAR_DB" "$far_id" outcome), want cancelled"
    [ "$(cdr_of "$FAR_DB" "$far_id" end_code)" = 487 ] || fail "far CDR end code, want 487"
    pass "cancel during ringing crossed the bridge: far CDR cancelled 487"
    ;;
  unreachable | bad_token)
    want=503
    [ "$CASE" = bad_token ] && want=502
    [ $status -ne 0 ] || fail "a failed call must exit non-zero"
    [ "$outcome" = failed ] || fail "outcome $outcome, want failed"
    [ "$(jfield "$T/c.jsonl" code)" = $want ] || fail "code $(jfield "$T/c.jsonl" code), want $want"
    [ "$elapsed" -le 10 ] || fail "the failure took $elapsed s"
    [ "$near_outcome" = failed ] || fail "bridge CDR outcome $near_outcome"
    [ -z "$hop" ] || fail "a call that never reached the next trunk has next hop $hop"
    # leg B: never connected (transport), or refused (failed, with the HTTP status)
    want_b=failed
    [ "$CASE" = unreachable ] && want_b=transport
    got_b=$(cdr_of "$NEAR_DB" "$near_id-b" outcome)
    [ "$got_b" = $want_b ] || fail "leg-B CDR outcome $got_b, want $want_b"
    pass "$CASE: failed $want after $elapsed s, events [$ev]"
    ;;
  far_killed)
    # leg B is lost (its byways cannot be reopened within the recovery window): A ends
    # with Q.850 41, about 2 s + 5 s after the start
    [ "$(jfield "$T/c.jsonl" answered)" = true ] || fail "the call was not answered"
    [ "$outcome" = ended_remote ] || fail "outcome $outcome, want ended_remote (the bridge's end)"
    [ "$elapsed" -le 10 ] || fail "the caller learnt of the loss after $elapsed s"
    grep -q '"name":"end".*"cause":41' "$T/c.jsonl" || fail "no end with Q.850 cause 41"
    [ "$near_outcome" = ended_local ] || fail "bridge CDR outcome $near_outcome"
    [ "$(cdr_of "$NEAR_DB" "$far_id" outcome)" = transport ] || fail "leg-B CDR outcome"
    pass "far rippd killed mid-call: caller outcome $outcome after $elapsed s, bridge CDR $near_outcome"
    ;;
  *) fail "unknown case $CASE" ;;
esac
