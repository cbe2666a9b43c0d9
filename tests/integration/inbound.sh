#!/bin/sh
# Inbound calls (SPEC §6.2): after provisioning, the provider places calls on the consumer
# trunk the consumer registered (PUT consumerTrunk), with the consumerToken. A caller
# reaches the provider on an ingress trunk whose answer is bridge:consumer=<provider trunk>;
# the provider's rippd bridges the call to the consumer's rippd, which answers (echo).
# Audio is checked end to end, through both hops.
. "$(dirname "$0")/lib.sh"
SECRET=consumer-secret-0123456789
mkdir -p "$T/prov" "$T/cons"
oauth_config() { # oauth_config FILE [EXTRA_TRUNKS_JSON]
  cat >"$1" <<JSON
{"oauth": {
  "clients": [{"client_id": "consumer-1", "client_secret": "$SECRET",
               "redirect_uris": ["https://consumer.example/cb"]}],
  "accounts": [{"user": "alice", "password": "correct horse"}],
  "trunk_template": {"answer": "echo", "identity_key": "$T/cons/identity.pub.pem"}},
 "trunks": [${2:-}]}
JSON
}
start() { # start NAME [ARGS...]: rippd --dev in $T/NAME; sets PORT_<NAME> and PID_<NAME>
  name=$1
  shift
  rm -f "$T/$name.json"
  "$RIPPD" --dev --state-dir "$T/$name" --log-level info "$@" >"$T/$name.json" 2>>"$T/$name.log" &
  pid=$!
  RIPPD_PIDS="$RIPPD_PIDS $pid"
  i=0
  while [ ! -s "$T/$name.json" ]; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "rippd $name did not start"
    kill -0 "$pid" 2>/dev/null || fail "rippd $name exited at start"
    sleep 0.1
  done
  port=$(jfield "$T/$name.json" trunk | sed 's|https://127.0.0.1:\([0-9]*\)/.*|\1|')
  eval "PORT_$name=$port PID_$name=$pid"
}
start cons
oauth_config "$T/oauth.json"
start prov --config "$T/oauth.json"
timeout 60 "$RIPP" trunk provision --provider "https://127.0.0.1:$PORT_prov" \
  --client-id consumer-1 --client-secret "$SECRET" --redirect-uri https://consumer.example/cb \
  --db "$T/cons/rippd.db" --consumer-base "https://127.0.0.1:$PORT_cons" --ca "$T/prov/cert.pem" \
  --user alice --password 'correct horse' --identity-pub "$T/cons/identity.pub.pem" \
  >"$T/provision.json" 2>"$T/provision.log" || fail "provision: $(cat "$T/provision.log")"
PT=$(jfield "$T/provision.json" provider_trunk)
CT=$(jfield "$T/provision.json" consumer_trunk)
pass "provisioned $PT <-> $CT"

# The provider again, now with an ingress trunk that delivers calls to that consumer.
stop_rippd "$PID_prov"
oauth_config "$T/oauth2.json" "{\"id\": \"pstn\", \"tokens\": [\"pstn-ingress-token-0123456789\"],
  \"answer\": \"bridge:consumer=${PT##*/},ca=$T/cons/cert.pem\",
  \"identity_key\": \"$T/cons/identity.pub.pem\"}"
start prov --config "$T/oauth2.json"
"$WAVTOOL" gen "$T/speech.wav" --seconds 12 --seed 11
TRUNK="https://127.0.0.1:$PORT_prov/trunks/pstn" TOKEN=pstn-ingress-token-0123456789
CA="$T/prov/cert.pem" KEY="$T/cons/identity.pem"
ripp_call "$T/in.jsonl" --play "$T/speech.wav" --record "$T/heard.wav" --duration 8 ||
  fail "inbound call exited $?: $(tail -n 3 "$T/in.jsonl.log")"
sent=$(jfield "$T/in.jsonl" sent) acked=$(jfield "$T/in.jsonl" acked)
[ "$sent" -ge 390 ] && [ "$sent" = "$acked" ] || fail "inbound call: $(tail -n 1 "$T/in.jsonl")"
grep -q "created on trunk ${CT##*/}" "$T/cons.log" || fail "the consumer did not get the call"
grep -q "bridged to $CT" "$T/prov.log" || fail "the provider did not bridge to the consumer trunk"
"$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
  >"$T/cmp.json" || fail "compare failed"
snr=$(jfield "$T/cmp.json" seg_snr_median_db) xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
num_ge "$snr" 30 || fail "echo through the consumer: SNR $snr dB"
num_ge "$xcorr" 0.95 || fail "echo through the consumer: cross-correlation $xcorr"
pass "inbound call: provider -> consumer trunk with the consumerToken, sent=$sent acked=$acked, echo SNR $snr dB"
stop_rippd "$PID_prov"
stop_rippd "$PID_cons"
