#!/bin/sh
# HTTP/3 against ngtcp2's example programs (Debian's ngtcp2-client and ngtcp2-server), which
# nobody in this project wrote:
#  1. gtlsclient fetches a trunk's capAdv from rippd over HTTP/3, with the trunk's token (as
#     the RFC 6750 access_token query parameter: gtlsclient cannot set header fields), and
#     is refused (401) without it;
#  2. ripp (caps, over HTTP/3) fetches a capability document that gtlsserver serves as a file.
. "$(dirname "$0")/lib.sh"
GTLSCLIENT=/usr/bin/gtlsclient
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSCLIENT" ] && [ -x "$GTLSSERVER" ] || fail "ngtcp2-client / ngtcp2-server are not installed"

start_rippd srv echo
port=$(echo "$TRUNK" | sed 's|https://127.0.0.1:\([0-9]*\)/.*|\1|')
path=$(echo "$TRUNK" | sed 's|https://127.0.0.1:[0-9]*||')

# 1a. with the token
mkdir -p "$T/dl"
timeout 20 "$GTLSCLIENT" --exit-on-all-streams-close --timeout=5s --download="$T/dl" \
  127.0.0.1 "$port" "https://127.0.0.1:$port$path/capAdv?access_token=$TOKEN" \
  >"$T/gtls.out" 2>"$T/gtls.log" || fail "gtlsclient exited $?"
f=$(ls "$T/dl" | head -n 1)
[ -n "$f" ] || fail "gtlsclient downloaded nothing: $(tail -n 20 "$T/gtls.log")"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (c["audio/PCMA"] !== true) process.exit(1);
' "$T/dl/$f" || fail "capAdv over HTTP/3: $(cat "$T/dl/$f")"
grep -q ':status: 200' "$T/gtls.out" "$T/gtls.log" || fail "no 200 in gtlsclient's dump"
grep -q 'h3 on UDP' "$T/srv.log" || fail "rippd does not say it serves HTTP/3"
pass "gtlsclient fetched capAdv over HTTP/3: $(cat "$T/dl/$f")"

# 1b. without the token: 401 with a problem body
rm -rf "$T/dl2" && mkdir -p "$T/dl2"
timeout 20 "$GTLSCLIENT" --exit-on-all-streams-close --timeout=5s --download="$T/dl2" \
  127.0.0.1 "$port" "https://127.0.0.1:$port$path/capAdv" >"$T/gtls2.out" 2>"$T/gtls2.log" ||
  fail "gtlsclient exited $?"
grep -q ':status: 401' "$T/gtls2.out" "$T/gtls2.log" || fail "no 401 without a token"
grep -q 'application/problem+json' "$T/gtls2.out" "$T/gtls2.log" || fail "401 without problem+json"
pass "gtlsclient without a token: 401 problem+json"
stop_rippd "$RIPPD_PID"

# 2. ripp against gtlsserver
mkdir -p "$T/htdocs/trunks/x"
printf '{"audio/PCMA":true,"audio/opus":{"maxbitrate":32000}}' >"$T/htdocs/trunks/x/capAdv"
gport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$GTLSSERVER" -q -d "$T/htdocs" 127.0.0.1 "$gport" "$T/srv/key.pem" "$T/srv/cert.pem" \
  >"$T/gserver.log" 2>&1 &
RIPPD_PIDS="$RIPPD_PIDS $!"
sleep 0.5
st=0
timeout 30 "$RIPP" caps --transport h3 --trunk "https://127.0.0.1:$gport/trunks/x" --token t \
  --ca "$T/srv/cert.pem" >"$T/caps.json" 2>"$T/caps.log" || st=$?
[ $st -eq 0 ] || fail "ripp caps against gtlsserver exited $st: $(cat "$T/caps.log")"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (c["audio/PCMA"] !== true || !c["audio/opus"]) process.exit(1);
' "$T/caps.json" || fail "ripp read: $(cat "$T/caps.json")"
pass "ripp fetched a capability document from gtlsserver over HTTP/3"
