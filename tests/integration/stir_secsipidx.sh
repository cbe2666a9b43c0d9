#!/bin/sh
# STIR interop with Debian's secsipidx (a Go implementation nobody in this project wrote), all
# on 127.0.0.1:
#  - ripp-sticert makes a test STI CA and a signer certificate with a TNAuthList;
#  - secsipidx serves the certificate over HTTPS (its -https-srv file server, HTTP/2 by ALPN)
#    and runs its HTTP check API, which fetches x5u itself and checks the chain against the
#    CA (-cert-verify 5: validity period + custom root CA);
#  - ripp-stir signs, secsipidx verifies (and refuses a tampered value and a foreign CA);
#  - secsipidx signs, ripp-stir verifies by fetching x5u over HTTPS (and refuses a wrong dest).
# The TLS certificate of the file server is made with GnuTLS's certtool.
. "$(dirname "$0")/lib.sh"

STIR="$RIPP_BUILD/apps/ripp-stir"
STICERT="$RIPP_BUILD/apps/ripp-sticert"
command -v secsipidx >/dev/null || fail "secsipidx is not installed"
command -v certtool >/dev/null || fail "certtool (gnutls-bin) is not installed"
[ -x "$STIR" ] && [ -x "$STICERT" ] || fail "ripp-stir / ripp-sticert not built"

ORIG=15551234567
DEST=15557654321

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# certificates
"$STICERT" ca --out "$T/ca" >/dev/null || fail "sticert ca"
"$STICERT" issue --ca "$T/ca" --tn $ORIG --spc 709J --out "$T/signer" >/dev/null || fail "sticert issue"
"$STICERT" ca --out "$T/rogue_ca" >/dev/null || fail "sticert rogue ca"
"$STICERT" issue --ca "$T/rogue_ca" --tn $ORIG --out "$T/rogue" >/dev/null || fail "sticert rogue"
mkdir -p "$T/pub"
cp "$T/signer/cert.pem" "$T/pub/signer.pem"
cp "$T/rogue/cert.pem" "$T/pub/rogue.pem"
cat >"$T/tls.tmpl" <<EOF
cn = "127.0.0.1"
ip_address = "127.0.0.1"
expiration_days = 2
tls_www_server
signing_key
EOF
certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$T/tls.key" 2>/dev/null ||
  fail "certtool key"
certtool --generate-self-signed --load-privkey "$T/tls.key" --template "$T/tls.tmpl" \
  --outfile "$T/tls.pem" 2>/dev/null || fail "certtool cert"

# secsipidx: HTTPS file server + HTTP check API; its Go client trusts our TLS certificate
HTTPS_PORT=$(free_port)
API_PORT=$(free_port)
SSL_CERT_FILE="$T/tls.pem" secsipidx -https-srv 127.0.0.1:$HTTPS_PORT -https-pubkey "$T/tls.pem" \
  -https-prvkey "$T/tls.key" -http-dir "$T/pub" -http-srv 127.0.0.1:$API_PORT \
  -ca-file "$T/ca/cert.pem" -cert-verify 5 -expire 60 -timeout 2 >"$T/secsipidx.log" 2>&1 &
RIPPD_PIDS="$RIPPD_PIDS $!"
X5U="https://127.0.0.1:$HTTPS_PORT/v1/pub/signer.pem"
i=0
until curl -s -o /dev/null --cacert "$T/tls.pem" "$X5U"; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "secsipidx did not start"
  sleep 0.1
done

check() { # check FILE: secsipidx's verdict on the Identity value in FILE
  curl -s --max-time 10 --data-binary @"$1" "http://127.0.0.1:$API_PORT/v1/check"
}

# 1. ripp-stir signs, secsipidx verifies (fetching x5u, chain to our CA)
"$STIR" sign --cert "$T/signer/cert.pem" --key "$T/signer/key.pem" --x5u "$X5U" --orig $ORIG \
  --dest $DEST --attest A >"$T/id1.txt" || fail "ripp-stir sign"
v=$(check "$T/id1.txt")
[ "$v" = "OK" ] || fail "secsipidx refused ripp's PASSporT: $v"
pass "secsipidx verifies a PASSporT signed by ripp-stir"

# ... and refuses it once the signature is changed, or when the chain is not from the CA
sed 's/\.[A-Za-z0-9_-]\{8\}/.AAAAAAAA/2' "$T/id1.txt" >"$T/id1bad.txt"
cmp -s "$T/id1.txt" "$T/id1bad.txt" && fail "tampering did not change the value"
v=$(check "$T/id1bad.txt")
[ "$v" != "OK" ] || fail "secsipidx accepted a tampered PASSporT"
"$STIR" sign --cert "$T/rogue/cert.pem" --key "$T/rogue/key.pem" \
  --x5u "https://127.0.0.1:$HTTPS_PORT/v1/pub/rogue.pem" --orig $ORIG --dest $DEST >"$T/id3.txt" ||
  fail "ripp-stir sign rogue"
v=$(check "$T/id3.txt")
[ "$v" != "OK" ] || fail "secsipidx accepted a certificate from another CA"
pass "secsipidx refuses a tampered signature and a foreign CA"

# 2. secsipidx signs, ripp-stir verifies (fetching x5u over HTTPS from secsipidx)
secsipidx -sign-full -orig-tn $ORIG -dest-tn $DEST -attest B -x5u "$X5U" \
  -k "$T/signer/key.pem" >"$T/id2.txt" || fail "secsipidx sign"
grep -q ';info=<' "$T/id2.txt" || fail "secsipidx output: $(cat "$T/id2.txt")"
"$STIR" verify --ca "$T/ca/cert.pem" --tls-ca "$T/tls.pem" --dest $DEST - <"$T/id2.txt" \
  >"$T/v2.json" 2>"$T/v2.log" || fail "ripp-stir refused secsipidx's PASSporT: $(cat "$T/v2.json")"
[ "$(jfield "$T/v2.json" attest)" = B ] || fail "attest not recorded: $(cat "$T/v2.json")"
[ "$(jfield "$T/v2.json" orig)" = $ORIG ] || fail "orig: $(cat "$T/v2.json")"
[ "$(jfield "$T/v2.json" tn_checked)" = true ] || fail "tn_checked: $(cat "$T/v2.json")"
pass "ripp-stir verifies a PASSporT signed by secsipidx (x5u fetched over HTTPS)"

if "$STIR" verify --ca "$T/ca/cert.pem" --tls-ca "$T/tls.pem" --dest 15550000000 - \
  <"$T/id2.txt" >"$T/v3.json" 2>&1; then
  fail "ripp-stir accepted a PASSporT for another destination"
fi
[ "$(jfield "$T/v3.json" code)" = 438 ] || fail "wrong code: $(cat "$T/v3.json")"
if "$STIR" verify --ca "$T/rogue_ca/cert.pem" --tls-ca "$T/tls.pem" --dest $DEST - \
  <"$T/id2.txt" >"$T/v4.json" 2>&1; then
  fail "ripp-stir accepted a chain from an untrusted CA"
fi
[ "$(jfield "$T/v4.json" code)" = 437 ] || fail "wrong code: $(cat "$T/v4.json")"
pass "ripp-stir refuses secsipidx's PASSporT for a wrong dest (438) and an untrusted CA (437)"
