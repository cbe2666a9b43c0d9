#!/bin/sh
# Trunk provisioning with OAuth 2.0 (SPEC §6.2) between two rippd: a provider (authorization
# server, trunk template answering echo) and a consumer. `ripp trunk provision` runs the code
# flow headless; then an outbound call with the access token (audio checked), a call on the
# consumer trunk with the consumerToken, every refusal (checked by an independent node client)
# beside a healthy call that must lose nothing, refresh, and teardown.
. "$(dirname "$0")/lib.sh"
SECRET=consumer-secret-0123456789
mkdir -p "$T/prov" "$T/cons"
ALICE_HASH=$("$RIPP" trunk hash-password --password 'correct horse') || fail "hash-password"
case $ALICE_HASH in pbkdf2-sha256\$100000\$*) ;; *) fail "hash-password printed $ALICE_HASH" ;; esac
cat >"$T/oauth-config.json" <<JSON
{"oauth": {
  "access_ttl_s": 3600, "refresh_ttl_s": 86400,
  "clients": [
    {"client_id": "consumer-1", "client_secret": "$SECRET",
     "redirect_uris": ["https://consumer.example/cb"]},
    {"client_id": "short", "client_secret": "short-secret-0123456789",
     "redirect_uris": ["https://consumer.example/cb"], "access_ttl_s": 2}],
  "accounts": [{"user": "alice", "password_hash": "$ALICE_HASH"},
               {"user": "bob", "password": "bob password"}],
  "trunk_template": {"answer": "echo", "identity_key": "$T/prov/identity.pub.pem",
                     "caps": {"audio/PCMA": true}}}}
JSON

# start NAME [--config FILE]: start_rippd_as, and PORT_<NAME>
start() {
  start_rippd_as "$@"
  port=$(jfield "$T/$1.json" trunk | sed 's|https://127.0.0.1:\([0-9]*\)/.*|\1|')
  eval "PORT_$1=$port"
}
start prov --config "$T/oauth-config.json"
start cons
PROVIDER="https://127.0.0.1:$PORT_prov"
PCA="$T/prov/cert.pem" CCA="$T/cons/cert.pem"
CDB="$T/cons/rippd.db" PDB="$T/prov/rippd.db"

# ---- provisioning, headless ----
timeout 60 "$RIPP" trunk provision --provider "$PROVIDER" --client-id consumer-1 \
  --client-secret "$SECRET" --redirect-uri https://consumer.example/cb --db "$CDB" \
  --consumer-base "https://127.0.0.1:$PORT_cons" --ca "$PCA" --user alice \
  --password 'correct horse' --identity-pub "$T/cons/identity.pub.pem" >"$T/provision.json" \
  2>"$T/provision.log" || fail "ripp trunk provision exited $?: $(cat "$T/provision.log")"
PT=$(jfield "$T/provision.json" provider_trunk) AT=$(jfield "$T/provision.json" access_token)
CT=$(jfield "$T/provision.json" consumer_trunk) CTOK=$(jfield "$T/provision.json" consumer_token)
EXP=$(jfield "$T/provision.json" expires_in)
case $PT in "$PROVIDER/trunks/"?*) ;; *) fail "provider trunk $PT" ;; esac
case $CT in "https://127.0.0.1:$PORT_cons/trunks/"?*) ;; *) fail "consumer trunk $CT" ;; esac
[ "$EXP" = 3600 ] || fail "expires_in $EXP"
[ ${#AT} -ge 22 ] && [ ${#CTOK} -ge 22 ] || fail "tokens shorter than 128 bits"
# the provider holds the consumer trunk (R1) with its token, for calls towards the consumer
got=$(sqlite3 "$PDB" "SELECT uri || ' ' || token FROM consumer_trunks WHERE trunk_id = '${PT##*/}'")
[ "$got" = "$CT $CTOK" ] || fail "provider's consumer trunk record: '$got'"
# the consumer's own trunk: its token is stored hashed, never in the clear
h=$(printf %s "$CTOK" | sha256sum | cut -d' ' -f1)
n=$(sqlite3 "$CDB" "SELECT COUNT(*) FROM tokens WHERE hash = '$h' AND trunk_id = '${CT##*/}'")
[ "$n" = 1 ] || fail "consumer token hash not in the consumer database"
"$RIPP" trunk list --db "$CDB" >"$T/list.json" || fail "ripp trunk list"
[ "$(jfield "$T/list.json" provider_trunk)" = "$PT" ] || fail "list: $(cat "$T/list.json")"
grep -q "$AT" "$T/list.json" && fail "list prints the access token"
pass "provisioned $PT <-> $CT"

# ---- an outbound call on the provider trunk with the access token, audio checked ----
"$WAVTOOL" gen "$T/speech.wav" --seconds 15 --seed 7
TRUNK=$PT TOKEN=$AT CA=$PCA KEY="$T/prov/identity.pem"
ripp_call "$T/out.jsonl" --play "$T/speech.wav" --record "$T/heard.wav" --duration 10 ||
  fail "outbound call exited $?"
[ "$(jfield "$T/out.jsonl" outcome)" = ended_local ] || fail "outbound call: $(tail -1 "$T/out.jsonl")"
sent=$(jfield "$T/out.jsonl" sent) acked=$(jfield "$T/out.jsonl" acked) lost=$(jfield "$T/out.jsonl" lost)
[ "$sent" -ge 490 ] && [ "$sent" = "$acked" ] && [ "$lost" = 0 ] ||
  fail "outbound call: sent $sent acked $acked lost $lost"
"$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
  >"$T/cmp.json" || fail "compare failed"
snr=$(jfield "$T/cmp.json" seg_snr_median_db) xcorr=$(jfield "$T/cmp.json" seg_xcorr_mean)
num_ge "$snr" 30 || fail "outbound echo SNR $snr dB"
num_ge "$xcorr" 0.97 || fail "outbound echo cross-correlation $xcorr"
pass "outbound call on the provisioned trunk: sent=$sent acked=$acked, echo SNR $snr dB, xcorr $xcorr"

# ---- the inbound direction: a call on the consumer trunk with the consumerToken ----
TRUNK=$CT TOKEN=$CTOK CA=$CCA KEY="$T/cons/identity.pem"
ripp_call "$T/in.jsonl" --play "$T/speech.wav" --duration 3 || fail "call on the consumer trunk exited $?"
sent=$(jfield "$T/in.jsonl" sent) acked=$(jfield "$T/in.jsonl" acked)
[ "$(jfield "$T/in.jsonl" answered)" = true ] && [ "$sent" -ge 140 ] && [ "$sent" = "$acked" ] ||
  fail "consumer trunk call: $(tail -1 "$T/in.jsonl")"
pass "call on the consumer trunk with the consumerToken: sent=$sent acked=$acked"

# ---- refusals beside a healthy call on the provisioned trunk ----
TRUNK=$PT TOKEN=$AT CA=$PCA KEY="$T/prov/identity.pem"
ripp_call "$T/healthy.jsonl" --play "$T/speech.wav" --duration 14 &
HEALTHY=$!
sleep 1
node "$HERE/provision.js" "$PROVIDER" "$PCA" "$T/prov/identity.pem" "$SECRET" "$T/secrets.txt" \
  >"$T/node.log" 2>&1 || { cat "$T/node.log" >&2; fail "provision.js"; }
tail -1 "$T/node.log"
wait $HEALTHY || fail "the healthy call exited $?"
sent=$(jfield "$T/healthy.jsonl" sent) acked=$(jfield "$T/healthy.jsonl" acked)
lost=$(jfield "$T/healthy.jsonl" lost) rxc=$(jfield "$T/healthy.jsonl" rx_concealed)
[ "$sent" -ge 690 ] && [ "$sent" = "$acked" ] && [ "$lost" = 0 ] ||
  fail "healthy call: sent $sent acked $acked lost $lost"
[ "$rxc" -le 25 ] || fail "healthy call: $rxc frames concealed"
pass "healthy call untouched: sent=$sent acked=$acked lost=$lost concealed=$rxc"
for line in ' -> 400 invalid-redirect-uri' ' -> 403 login-failed' ' -> 403 bad-csrf' \
  ' -> 429 login-throttled' ' -> 401 invalid-client' ' -> 400 invalid-grant' \
  ' -> 400 unsupported-grant-type' ' -> 401 invalid-token' ' -> 403 wrong-trunk' \
  ' -> 422 invalid-consumer-uri' 'used again: ' ' -> 303 access_denied'; do
  grep -q -- "$line" "$T/prov.log" || fail "no log line '$line'"
done
# nothing secret in the logs
printf '%s\n%s\n%s\n%s\n' "$AT" "$CTOK" "$SECRET" "correct horse" >>"$T/secrets.txt"
while read -r s; do
  [ -n "$s" ] || continue
  if grep -qF -- "$s" "$T/prov.log" "$T/cons.log"; then fail "a secret appears in a log"; fi
done <"$T/secrets.txt"
pass "refusals logged, no secret in the logs ($(wc -l <"$T/secrets.txt") checked)"

# ---- refresh: rotation, then the consumer trunk is PUT again (D26) ----
"$RIPP" trunk refresh --db "$CDB" >"$T/refresh.json" 2>"$T/refresh.log" || fail "refresh (nothing due)"
[ "$(jfield "$T/refresh.json" refreshed)" = false ] || fail "refreshed without need"
"$RIPP" trunk refresh --db "$CDB" --force >"$T/refresh.json" 2>"$T/refresh.log" ||
  fail "refresh: $(cat "$T/refresh.log")"
AT2=$(jfield "$T/refresh.json" access_token)
[ "$(jfield "$T/refresh.json" refreshed)" = true ] && [ "$(jfield "$T/refresh.json" put)" = true ] &&
  [ "$AT2" != "$AT" ] || fail "refresh: $(cat "$T/refresh.json")"
"$RIPP" caps --trunk "$PT" --token "$AT2" --ca "$PCA" >/dev/null 2>&1 || fail "refreshed token refused"
n=$(grep -c "consumer trunk $CT registered" "$T/prov.log")
[ "$n" = 2 ] || fail "consumerTrunk PUT $n times, want 2"
pass "refresh rotated the tokens and re-PUT the consumer trunk"

# ---- consumerToken rotation: the old token works for the overlap, then not (D26) ----
"$RIPP" trunk refresh --db "$CDB" --rotate-consumer-token --overlap 3 >"$T/rotate.json" \
  2>"$T/rotate.log" || fail "rotate: $(cat "$T/rotate.log")"
CTOK2=$(jfield "$T/rotate.json" consumer_token)
[ -n "$CTOK2" ] && [ "$CTOK2" != "$CTOK" ] && [ "$(jfield "$T/rotate.json" put)" = true ] ||
  fail "rotate: $(cat "$T/rotate.json")"
n=$(grep -c "consumer trunk $CT registered" "$T/prov.log")
[ "$n" = 3 ] || fail "consumerTrunk PUT $n times after the rotation, want 3"
stored=$(sqlite3 "$PDB" "SELECT token FROM consumer_trunks WHERE trunk_id = '${PT##*/}'")
[ "$stored" = "$CTOK2" ] || fail "the provider does not hold the new consumerToken"
"$RIPP" caps --trunk "$CT" --token "$CTOK" --ca "$CCA" >/dev/null 2>&1 ||
  fail "the old consumerToken is refused during the overlap"
"$RIPP" caps --trunk "$CT" --token "$CTOK2" --ca "$CCA" >/dev/null 2>&1 ||
  fail "the new consumerToken is refused"
sleep 4.5 # the 3 s overlap, and rippd's 1 s token cache
if "$RIPP" caps --trunk "$CT" --token "$CTOK" --ca "$CCA" >/dev/null 2>"$T/caps-old.log"; then
  fail "the old consumerToken still works after the overlap"
fi
grep -q 'answered 401' "$T/caps-old.log" || fail "old consumerToken: $(cat "$T/caps-old.log")"
"$RIPP" caps --trunk "$CT" --token "$CTOK2" --ca "$CCA" >/dev/null 2>&1 ||
  fail "the new consumerToken is refused after the overlap"
if grep -qF -- "$CTOK2" "$T/prov.log" "$T/cons.log"; then fail "the new consumerToken is in a log"; fi
pass "consumerToken rotated: the old one worked during the 3 s overlap and got 401 after it"

# ---- teardown: DELETE {providerTrunk} ----
"$RIPP" trunk delete --db "$CDB" --provider-trunk "$PT" >"$T/delete.json" || fail "delete"
[ "$(jfield "$T/delete.json" status)" = 204 ] || fail "delete: $(cat "$T/delete.json")"
if "$RIPP" caps --trunk "$PT" --token "$AT2" --ca "$PCA" >/dev/null 2>"$T/caps.log"; then
  fail "the token of a deleted trunk still works"
fi
grep -q 'answered 401' "$T/caps.log" || fail "after delete: $(cat "$T/caps.log")"
[ -z "$("$RIPP" trunk list --db "$CDB")" ] || fail "the deleted trunk is still listed"
n=$(sqlite3 "$CDB" "SELECT COUNT(*) FROM trunks WHERE id = '${CT##*/}'")
[ "$n" = 0 ] || fail "the consumer trunk is still in the consumer database"
pass "trunk deleted on both sides"
stop_rippd "$PID_prov"
stop_rippd "$PID_cons"
