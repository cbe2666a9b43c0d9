#!/bin/sh
# The bridge checks the next trunk's capabilities before it places leg B (SPEC §5.1, D13,
# D25). "far" serves trunk mulaw, which does not accept audio/PCMA. "near" bridges two trunks
# to it: alaw, which advertises audio/PCMA only (its callers can send nothing else), and
# edge, with the default codecs and audio/PCMA (PCMU calls go through; the codec it cannot
# carry is logged once). Checked:
#  1. the first call, on alaw, waits for the first capAdv fetch and is refused with failed
#     488; no call reaches far (log and CDRs);
#  2. a call on edge is bridged, audio checked end to end, without a second capAdv GET;
#  3. alaw again: refused from the cache (no GET), far still sees nothing of it;
#  4. far restarts (same port): the bridge's next request opens a new connection, so the
#     document is revalidated with If-None-Match and far answers 304; the call goes through;
#  5. a next trunk whose server accepts connections and never answers: the call waits for
#     capAdv no longer than 2 s, goes on unchecked (logged), and fails 503 as any call to an
#     unreachable trunk does.
. "$(dirname "$0")/lib.sh"

FP=$(node -e 'const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
# far's certificate and identity keys first (the configurations name them)
"$RIPPD" --dev --state-dir "$T/far" --no-h3 --port "$FP" >"$T/far0.json" 2>/dev/null &
p=$!
i=0
while [ ! -s "$T/far0.json" ] && [ $i -lt 150 ]; do i=$((i + 1)); sleep 0.1; done
kill "$p" 2>/dev/null
wait "$p" 2>/dev/null || true
[ -s "$T/far/identity.pub.pem" ] || fail "far's state files were not made"
FAR_TRUNK="https://127.0.0.1:$FP/trunks/mulaw" FAR_TOKEN=far-token-0123456789abcdef
# a listener that accepts TCP connections and never says a word
node -e 'const s = require("net").createServer(() => {});
  s.listen(0, "127.0.0.1", () => console.log(s.address().port));' >"$T/hole.port" &
RIPPD_PIDS="$RIPPD_PIDS $!"
i=0
while [ ! -s "$T/hole.port" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
HOLE="https://127.0.0.1:$(cat "$T/hole.port")/trunks/hang"
cat >"$T/far-config.json" <<EOF2
{"trunks": [{"id": "mulaw", "tokens": ["$FAR_TOKEN"], "answer": "echo",
             "caps": {"audio/PCMA": false}, "identity_key": "$T/far/identity.pub.pem"}]}
EOF2
cat >"$T/near-config.json" <<EOF2
{"trunks": [
  {"id": "alaw", "tokens": ["alaw-token-0123456789abcdef"],
   "caps": {"audio/PCMA": true, "audio/PCMU": false, "audio/opus": false},
   "answer": "bridge:$FAR_TRUNK", "bridge_token": "$FAR_TOKEN", "bridge_ca": "$T/far/cert.pem",
   "identity_key": "$T/far/identity.pub.pem"},
  {"id": "edge", "tokens": ["edge-token-0123456789abcdef"], "caps": {"audio/PCMA": true},
   "answer": "bridge:$FAR_TRUNK", "bridge_token": "$FAR_TOKEN", "bridge_ca": "$T/far/cert.pem",
   "identity_key": "$T/far/identity.pub.pem"},
  {"id": "hang", "tokens": ["hang-token-0123456789abcdef"], "caps": {},
   "answer": "bridge:$HOLE", "bridge_token": "$FAR_TOKEN", "bridge_ca": "$T/far/cert.pem",
   "identity_key": "$T/far/identity.pub.pem"}]}
EOF2

start_rippd_as far --port "$FP" --config "$T/far-config.json"
start_rippd_as near --config "$T/near-config.json"
NEAR=$(jfield "$T/near.json" trunk | sed 's|\(https://[^/]*\)/.*|\1|')
CA=$(jfield "$T/near.json" ca) KEY="$T/far/identity.pem"

far_calls() { grep -c "created on trunk mulaw" "$T/far.log" || true; }
far_cdrs() { # (far is running: its database may be busy for a moment)
  i=0
  until "$RIPPD" --db "$T/far/rippd.db" --cdrs >"$T/far-cdrs.jsonl" 2>"$T/far-cdrs.err"; do
    i=$((i + 1))
    [ $i -le 30 ] || fail "far's CDRs cannot be read: $(cat "$T/far-cdrs.err")"
    sleep 0.1
  done
  grep -c '"trunk_id":"mulaw"' "$T/far-cdrs.jsonl" || true
}
gets() { grep -c "bridge: GET $FAR_TRUNK/capAdv -> $1" "$T/near.log" || true; }

# refused_488 NAME: a call on alaw in A-law is refused with failed 488 and far gets nothing
refused_488() {
  before=$(far_calls)
  TRUNK="$NEAR/trunks/alaw" TOKEN=alaw-token-0123456789abcdef
  st=0
  ripp_call "$T/$1.jsonl" --codec pcma --duration 2 || st=$?
  [ $st -ne 0 ] || fail "$1: the call was not refused"
  [ "$(jfield "$T/$1.jsonl" outcome)" = failed ] && [ "$(jfield "$T/$1.jsonl" code)" = 488 ] ||
    fail "$1: $(tail -n 1 "$T/$1.jsonl")"
  [ "$(jfield "$T/$1.jsonl" answered)" = false ] || fail "$1: answered"
  id=$(call_id_of "$T/$1.jsonl")
  grep -q "call $id: bridge: the next trunk $FAR_TRUNK accepts none of the voice codecs this trunk offers (audio/PCMA)" \
    "$T/near.log" || fail "$1: no log line for the refusal"
  grep -q "call $id: bridged to" "$T/near.log" && fail "$1: leg B was placed"
  [ "$(far_calls)" = "$before" ] || fail "$1: far got a call"
}

# bridged NAME SECONDS [ARGS]: a call on edge, answered through far
bridged() {
  n=$1 secs=$2
  shift 2
  TRUNK="$NEAR/trunks/edge" TOKEN=edge-token-0123456789abcdef
  ripp_call "$T/$n.jsonl" --duration "$secs" "$@" || fail "$n: exited $?: $(tail -n 3 "$T/$n.jsonl.log")"
  [ "$(jfield "$T/$n.jsonl" answered)" = true ] || fail "$n: $(tail -n 1 "$T/$n.jsonl")"
  grep -q "call $(call_id_of "$T/$n.jsonl"): bridged to $FAR_TRUNK" "$T/near.log" ||
    fail "$n: not bridged to far"
}

# 1. refused while the first capAdv fetch is awaited
refused_488 first
[ "$(gets 200)" = 1 ] || fail "capAdv fetched $(gets 200) times, want 1"
[ "$(far_calls)" = 0 ] && [ "$(far_cdrs)" = 0 ] || fail "far has calls after the refusal"
pass "A-law call refused with 488 after the first capAdv fetch; far saw no call and has no CDR"

# 2. a normal bridged call, with audio, from the cache
"$WAVTOOL" gen "$T/speech.wav" --seconds 10 --seed 7
bridged normal 10 --play "$T/speech.wav" --record "$T/heard.wav"
sent=$(jfield "$T/normal.jsonl" sent) acked=$(jfield "$T/normal.jsonl" acked) lost=$(jfield "$T/normal.jsonl" lost)
[ "$sent" -ge 480 ] && [ "$sent" = "$acked" ] && [ "$lost" = 0 ] ||
  fail "bridged call: sent $sent acked $acked lost $lost"
"$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
  >"$T/cmp.json" || fail "compare failed"
snr=$(jfield "$T/cmp.json" seg_snr_median_db) xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
num_ge "$snr" 30 || fail "echo through far: SNR $snr dB"
# (the mean cross-correlation of 100 ms segments drops when a loaded machine delays playout;
# unrelated audio scores near 0)
num_ge "$xcorr" 0.9 || fail "echo through far: cross-correlation $xcorr"
[ "$(far_calls)" = 1 ] || fail "far has $(far_calls) calls, want 1"
[ "$(gets 200)" = 1 ] && [ "$(gets 304)" = 0 ] || fail "the second call fetched capAdv again"
pass "PCMU call bridged with the cached document (one capAdv GET in all): sent=$sent acked=$acked lost=$lost, echo SNR $snr dB, xcorr $xcorr"

# 3. refused again, from the cache
refused_488 cached
bridged again 2
[ "$(gets 200)" = 1 ] && [ "$(gets 304)" = 0 ] || fail "capAdv fetched again within the hour"
[ "$(far_calls)" = 2 ] && [ "$(far_cdrs)" = 2 ] || fail "far: $(far_calls) calls, $(far_cdrs) CDRs, want 2"
n=$(grep -c "bridge: the next trunk $FAR_TRUNK does not accept audio/PCMA, which the bridge trunk advertises" \
  "$T/near.log" || true)
[ "$n" = 1 ] || fail "edge's undeliverable audio/PCMA logged $n times, want once"
pass "second refusal and a further call answered from the cache: still one capAdv GET, far has 2 calls"

# 4. a new connection to far: revalidated with If-None-Match, 304
stop_rippd "$PID_far"
start_rippd_as far --port "$FP" --config "$T/far-config.json"
bridged after_restart 2
[ "$(gets 304)" = 1 ] || fail "no revalidation after the new connection: $(grep capAdv "$T/near.log")"
[ "$(gets 200)" = 1 ] || fail "the document was fetched in full again"
refused_488 after_304
pass "after far restarted: capAdv revalidated with If-None-Match (304), the cached document still applies"

# 5. capAdv never answers: bounded wait, then the call is placed unchecked
TRUNK="$NEAR/trunks/hang" TOKEN=hang-token-0123456789abcdef
st=0
ripp_call "$T/hang.jsonl" --duration 2 || st=$?
[ $st -ne 0 ] && [ "$(jfield "$T/hang.jsonl" outcome)" = failed ] &&
  [ "$(jfield "$T/hang.jsonl" code)" = 503 ] || fail "hang: $(tail -n 1 "$T/hang.jsonl")"
id=$(call_id_of "$T/hang.jsonl")
grep -q "bridge: GET $HOLE/capAdv: no answer within 2000 ms" "$T/near.log" ||
  fail "hang: no log line for the late capAdv"
grep -q "call $id: bridge: the capabilities of $HOLE are unknown; placing the call unchecked" \
  "$T/near.log" || fail "hang: the call was not placed unchecked"
grep -q "call $id: bridged to $HOLE" "$T/near.log" || fail "hang: leg B was not placed"
pass "capAdv unanswered: the call waited for it at most 2 s, was placed unchecked and failed 503"
stop_rippd "$PID_near"
stop_rippd "$PID_far"
