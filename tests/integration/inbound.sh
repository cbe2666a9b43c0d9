#!/bin/sh
# Inbound calls (SPEC §6.2): after provisioning, the provider places calls on the consumer
# trunk the consumer registered (PUT consumerTrunk), with the consumerToken. A caller
# reaches the provider on an ingress trunk whose answer is bridge:consumer=<provider trunk>;
# the provider's rippd bridges the call to the consumer's rippd, which answers (echo).
# Audio is checked end to end, through both hops.
#
#   inbound.sh [stir]
# stir: the same with verified caller identity in both directions (SPEC §6.4). Both rippd
# verify PASSporTs with STIR certificates from one test STI-PA CA: the provider's trunk
# template has "identity": "stir", the consumer trunk is provisioned with `--identity-pub
# stir`, and the ingress trunk is "stir" too. First an outbound call (consumer -> provider
# trunk with the access token), signed by the consumer's STI certificate, which the consumer
# rippd publishes as its x5u; the provider verifies it. Then the inbound call, signed by the
# PSTN side's certificate (published by the provider): verified by the provider on the
# ingress trunk, forwarded unchanged on leg B (the bridge is no authentication service) and
# verified again by the consumer. Both CDRs record "verified A"; audio is checked end to end.
. "$(dirname "$0")/lib.sh"
MODE=${1:-plain}
SECRET=consumer-secret-0123456789
mkdir -p "$T/prov" "$T/cons"
IDENTITY_TEMPLATE="\"identity_key\": \"$T/cons/identity.pub.pem\""
IDENTITY_INGRESS="\"identity_key\": \"$T/cons/identity.pub.pem\""
STIR_PROV="" STIR_CONS=""
ORIG_OUT=14085550100 ORIG_IN=14085550177
if [ "$MODE" = stir ]; then
  STICERT="$RIPP_BUILD/apps/ripp-sticert"
  "$STICERT" ca --out "$T/sti-ca" >/dev/null || fail "ripp-sticert ca"
  # the consumer's certificate for its caller, the PSTN carrier's for the inbound caller
  "$STICERT" issue --ca "$T/sti-ca" --out "$T/sti-cons" --tn "$ORIG_OUT" >/dev/null || fail "issue"
  "$STICERT" issue --ca "$T/sti-ca" --out "$T/sti-pstn" --tn "$ORIG_IN" >/dev/null || fail "issue"
  mkdir -p "$T/pub-cons" "$T/pub-prov"
  cp "$T/sti-cons/cert.pem" "$T/pub-cons/cons.pem"
  cp "$T/sti-pstn/cert.pem" "$T/pub-prov/pstn.pem"
  # both TLS certificates first: each rippd fetches x5u from the other (and from itself)
  for n in prov cons; do
    "$RIPPD" --dev --state-dir "$T/$n" --no-h3 >"$T/$n-tls.json" 2>/dev/null &
    p=$!
    i=0
    while [ ! -s "$T/$n-tls.json" ] && [ $i -lt 150 ]; do i=$((i + 1)); sleep 0.1; done
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
    [ -s "$T/$n/cert.pem" ] || fail "no TLS certificate for $n"
  done
  cat "$T/prov/cert.pem" "$T/cons/cert.pem" >"$T/tls-both.pem"
  stir_json() { # stir_json PUBLISH_DIR
    echo "\"stir\": {\"trust_anchors\": \"$T/sti-ca/cert.pem\", \"publish_dir\": \"$1\",
      \"fetch_ca\": \"$T/tls-both.pem\", \"fetch_timeout_ms\": 2000},"
  }
  STIR_PROV=$(stir_json "$T/pub-prov") STIR_CONS=$(stir_json "$T/pub-cons")
  IDENTITY_TEMPLATE='"identity": "stir"' IDENTITY_INGRESS='"identity": "stir"'
  echo "{$STIR_CONS \"trunks\": []}" >"$T/cons-config.json"
fi
oauth_config() { # oauth_config FILE [EXTRA_TRUNKS_JSON]
  cat >"$1" <<JSON
{$STIR_PROV "oauth": {
  "clients": [{"client_id": "consumer-1", "client_secret": "$SECRET",
               "redirect_uris": ["https://consumer.example/cb"]}],
  "accounts": [{"user": "alice", "password": "correct horse"}],
  "trunk_template": {"answer": "echo", $IDENTITY_TEMPLATE}},
 "trunks": [${2:-}]}
JSON
}
# verstat DB CALL_ID: the identity the CDR of that call records
cdrs_of() { # cdrs_of DB OUT: the CDRs (the database of a running rippd may be busy a moment)
  i=0
  until "$RIPPD" --db "$1" --cdrs >"$2" 2>"$T/cdrs.err"; do
    i=$((i + 1))
    [ $i -le 30 ] || fail "CDRs of $1 cannot be read: $(cat "$T/cdrs.err")"
    sleep 0.1
  done
}
verstat() {
  cdrs_of "$1" "$T/cdrs.jsonl"
  node -e '
    const id = process.argv[2];
    const c = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")
      .filter(Boolean).map(JSON.parse).find((r) => r.call_id === id);
    console.log(c ? c.identity || "" : "no CDR");
  ' "$T/cdrs.jsonl" "$2"
}
start() { # start NAME [ARGS...]: start_rippd_as, and PORT_<NAME>
  start_rippd_as "$@"
  port=$(jfield "$T/$1.json" trunk | sed 's|https://127.0.0.1:\([0-9]*\)/.*|\1|')
  eval "PORT_$1=$port"
}
if [ "$MODE" = stir ]; then start cons --config "$T/cons-config.json"; else start cons; fi
oauth_config "$T/oauth.json"
start prov --config "$T/oauth.json"
IDPUB="$T/cons/identity.pub.pem"
[ "$MODE" = stir ] && IDPUB=stir
timeout 60 "$RIPP" trunk provision --provider "https://127.0.0.1:$PORT_prov" \
  --client-id consumer-1 --client-secret "$SECRET" --redirect-uri https://consumer.example/cb \
  --db "$T/cons/rippd.db" --consumer-base "https://127.0.0.1:$PORT_cons" --ca "$T/prov/cert.pem" \
  --user alice --password 'correct horse' --identity-pub "$IDPUB" \
  >"$T/provision.json" 2>"$T/provision.log" || fail "provision: $(cat "$T/provision.log")"
PT=$(jfield "$T/provision.json" provider_trunk)
CT=$(jfield "$T/provision.json" consumer_trunk)
pass "provisioned $PT <-> $CT"
"$WAVTOOL" gen "$T/speech.wav" --seconds 12 --seed 11

# the audio of a call recorded as heard.wav against speech.wav: SNR and cross-correlation
check_audio() { # check_audio WHAT
  "$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
    >"$T/cmp.json" || fail "compare failed"
  snr=$(jfield "$T/cmp.json" seg_snr_median_db) xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
  num_ge "$snr" 30 || fail "$1: SNR $snr dB"
  # (the mean over 100 ms segments drops when a loaded machine delays playout; unrelated
  # audio scores near 0)
  num_ge "$xcorr" 0.9 || fail "$1: cross-correlation $xcorr"
}

if [ "$MODE" = stir ]; then
  # the trunk the provider minted from its template and the consumer trunk verify with STIR
  got=$(sqlite3 -cmd ".timeout 3000" "$T/prov/rippd.db" "SELECT identity_pub FROM trunks WHERE id = '${PT##*/}'")
  [ "$got" = stir ] || fail "the provider trunk's identity setting is '$got'"
  got=$(sqlite3 -cmd ".timeout 3000" "$T/cons/rippd.db" "SELECT identity_pub FROM trunks WHERE id = '${CT##*/}'")
  [ "$got" = stir ] || fail "the consumer trunk's identity setting is '$got'"
  # a call with a PASSporT that does not verify (signed for another number) is refused
  TRUNK=$PT TOKEN=$(jfield "$T/provision.json" access_token) CA="$T/prov/cert.pem"
  KEY="$T/sti-pstn/key.pem"
  st=0
  ripp_call "$T/bad.jsonl" --duration 1 --from "+$ORIG_IN" --sti-cert "$T/sti-pstn/cert.pem" \
    --x5u "https://127.0.0.1:$PORT_cons/stir/cons.pem" || st=$?
  [ $st -ne 0 ] && [ "$(jfield "$T/bad.jsonl" http_status)" = 403 ] ||
    fail "a PASSporT that does not verify was not refused: $(tail -n 1 "$T/bad.jsonl")"
  pass "provider trunk: a PASSporT that does not verify is refused ($(jfield "$T/bad.jsonl" code))"
  # the outbound call, signed by the consumer's STI certificate published at its own x5u
  KEY="$T/sti-cons/key.pem"
  ripp_call "$T/out.jsonl" --play "$T/speech.wav" --record "$T/heard.wav" --duration 8 \
    --from "+$ORIG_OUT" --sti-cert "$T/sti-cons/cert.pem" \
    --x5u "https://127.0.0.1:$PORT_cons/stir/cons.pem" ||
    fail "outbound call exited $?: $(tail -n 3 "$T/out.jsonl.log")"
  sent=$(jfield "$T/out.jsonl" sent) acked=$(jfield "$T/out.jsonl" acked) lost=$(jfield "$T/out.jsonl" lost)
  [ "$sent" -ge 390 ] && [ "$sent" = "$acked" ] && [ "$lost" = 0 ] ||
    fail "outbound call: $(tail -n 1 "$T/out.jsonl")"
  check_audio "outbound echo"
  v=$(verstat "$T/prov/rippd.db" "$(call_id_of "$T/out.jsonl")")
  [ "$v" = "verified A" ] || fail "outbound call: the provider's CDR records '$v'"
  pass "outbound call verified by the provider ($v): sent=$sent acked=$acked lost=$lost, echo SNR $snr dB, xcorr $xcorr"
fi

# The provider again, now with an ingress trunk that delivers calls to that consumer.
stop_rippd "$PID_prov"
oauth_config "$T/oauth2.json" "{\"id\": \"pstn\", \"tokens\": [\"pstn-ingress-token-0123456789\"],
  \"answer\": \"bridge:consumer=${PT##*/},ca=$T/cons/cert.pem\", $IDENTITY_INGRESS}"
start prov --config "$T/oauth2.json"
TRUNK="https://127.0.0.1:$PORT_prov/trunks/pstn" TOKEN=pstn-ingress-token-0123456789
CA="$T/prov/cert.pem" KEY="$T/cons/identity.pem"
set --
if [ "$MODE" = stir ]; then
  # signed by the PSTN carrier's certificate, which the provider publishes
  KEY="$T/sti-pstn/key.pem"
  set -- --from "+$ORIG_IN" --sti-cert "$T/sti-pstn/cert.pem" \
    --x5u "https://127.0.0.1:$PORT_prov/stir/pstn.pem"
fi
ripp_call "$T/in.jsonl" --play "$T/speech.wav" --record "$T/heard.wav" --duration 8 "$@" ||
  fail "inbound call exited $?: $(tail -n 3 "$T/in.jsonl.log")"
sent=$(jfield "$T/in.jsonl" sent) acked=$(jfield "$T/in.jsonl" acked) lost=$(jfield "$T/in.jsonl" lost)
[ "$sent" -ge 390 ] && [ "$sent" = "$acked" ] && [ "$lost" = 0 ] ||
  fail "inbound call: $(tail -n 1 "$T/in.jsonl")"
grep -q "created on trunk ${CT##*/}" "$T/cons.log" || fail "the consumer did not get the call"
grep -q "bridged to $CT" "$T/prov.log" || fail "the provider did not bridge to the consumer trunk"
check_audio "echo through the consumer"
pass "inbound call: provider -> consumer trunk with the consumerToken, sent=$sent acked=$acked lost=$lost, echo SNR $snr dB, xcorr $xcorr"
if [ "$MODE" = stir ]; then
  v=$(verstat "$T/prov/rippd.db" "$(call_id_of "$T/in.jsonl")")
  [ "$v" = "verified A" ] || fail "inbound call: the provider's CDR of leg A records '$v'"
  # leg B: the call the consumer received, on the consumer trunk
  # (leg A's record names leg B's call URI on the first line of next_hop)
  hop=$(sqlite3 -cmd ".timeout 3000" "$T/prov/rippd.db" "SELECT next_hop FROM calls WHERE id = '$(call_id_of "$T/in.jsonl")'" |
    head -n 1)
  cdrs_of "$T/cons/rippd.db" "$T/cons-cdrs.jsonl"
  n=$(grep -c "\"trunk_id\":\"${CT##*/}\"" "$T/cons-cdrs.jsonl" || true)
  [ "$n" = 1 ] || fail "the consumer has $n CDRs of calls on its trunk, want 1"
  cid=$(grep "\"trunk_id\":\"${CT##*/}\"" "$T/cons-cdrs.jsonl" | node -e '
    console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).call_id)')
  [ "${hop##*/}" = "$cid" ] || fail "leg B is '$hop', the consumer's call is $cid"
  vc=$(verstat "$T/cons/rippd.db" "$cid")
  [ "$vc" = "verified A" ] || fail "inbound call: the consumer's CDR records '$vc'"
  grep -q "$ORIG_IN" "$T/cons-cdrs.jsonl" || fail "the consumer's CDR lacks the calling number"
  pass "inbound call verified by the provider ($v) and again by the consumer ($vc), caller $ORIG_IN"
fi
stop_rippd "$PID_prov"
stop_rippd "$PID_cons"
