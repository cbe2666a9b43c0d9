#!/bin/sh
# Trunk-level behaviour seen by an independent client (node's http2):
#  1. capAdv carries an ETag; If-None-Match with it gets 304 (D13);
#  2. a calls-per-second limit answers 429 with Retry-After and a problem body, and the
#     calls it admits work;
#  3. DELETE {trunk} answers 204 and ends the trunk's live call (D12); the token is then
#     refused.
. "$(dirname "$0")/lib.sh"
"$RIPPD" --dev --state-dir "$T/srv" --answer echo --max-cps 2 --log-level info \
  >"$T/srv.json" 2>"$T/srv.log" &
RIPPD_PID=$!
RIPPD_PIDS="$RIPPD_PIDS $RIPPD_PID"
i=0
while [ ! -s "$T/srv.json" ]; do
  i=$((i + 1))
  [ $i -le 150 ] || fail "rippd did not start"
  sleep 0.1
done
TRUNK=$(jfield "$T/srv.json" trunk)
TOKEN=$(jfield "$T/srv.json" token)
CA=$(jfield "$T/srv.json" ca)
KEY=$(jfield "$T/srv.json" identity_key)

# node REQUEST: one request on the trunk with node's http2; prints {status, headers, body}
node_req() {
  node -e '
    const http2 = require("http2"), fs = require("fs");
    const [url, token, ca, method, path, inm] = process.argv.slice(1);
    const u = new URL(url);
    const s = http2.connect(u.origin, { ca: fs.readFileSync(ca) });
    const h = { ":method": method, ":path": u.pathname + path, authorization: "Bearer " + token };
    if (inm) h["if-none-match"] = inm;
    const r = s.request(h);
    let body = "", head;
    r.on("response", (x) => (head = x));
    r.on("data", (d) => (body += d));
    r.on("end", () => { console.log(JSON.stringify({ status: head[":status"], headers: head, body })); s.close(); });
    r.end();
  ' "$TRUNK" "$TOKEN" "$CA" "$@"
}

# 1. ETag
node_req GET /capAdv >"$T/caps1.json" || fail "capAdv"
[ "$(jfield "$T/caps1.json" status)" = 200 ] || fail "capAdv: $(cat "$T/caps1.json")"
etag=$(jfield "$T/caps1.json" headers.etag)
[ -n "$etag" ] || fail "capAdv has no ETag"
node_req GET /capAdv "$etag" >"$T/caps2.json" || fail "capAdv again"
[ "$(jfield "$T/caps2.json" status)" = 304 ] || fail "If-None-Match: $(cat "$T/caps2.json")"
[ -z "$(jfield "$T/caps2.json" body)" ] || fail "304 with a body"
node_req GET /capAdv '"0000000000000000"' >"$T/caps3.json" || fail "capAdv, other tag"
[ "$(jfield "$T/caps3.json" status)" = 200 ] || fail "another ETag must get 200"
pass "capAdv: ETag $etag, 304 on If-None-Match, 200 on another tag"

# 2. --max-cps 2: eight call creations at once; the bucket admits about two
pids=""
for n in 1 2 3 4 5 6 7 8; do
  ripp_call "$T/burst$n.jsonl" --duration 1 &
  pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
ok=0 limited=0
for n in 1 2 3 4 5 6 7 8; do
  st=$(jfield "$T/burst$n.jsonl" http_status)
  if [ "$(jfield "$T/burst$n.jsonl" answered)" = true ]; then
    ok=$((ok + 1))
    [ "$(jfield "$T/burst$n.jsonl" lost)" = 0 ] || fail "an admitted call lost frames"
  elif [ "$st" = 429 ]; then limited=$((limited + 1)); fi
done
[ $ok -ge 1 ] && [ $ok -le 3 ] || fail "$ok calls admitted by a limit of 2/s (burst 2)"
[ $((ok + limited)) -eq 8 ] || fail "$ok admitted + $limited limited is not 8"
grep -q "429 too-many-calls: retry after" "$T/srv.log" || fail "no log line for the 429s"
node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
  if (!/calls-per-second/.test(o.detail || "")) process.exit(1);
' "$(grep -l '"http_status":429' "$T"/burst*.jsonl | head -n 1)" || fail "429 without its problem detail"
pass "calls-per-second limit: $ok admitted, $limited refused with 429"

# 3. DELETE {trunk} ends the live call
sleep 1.2
ripp_call "$T/live.jsonl" --duration 20 &
cpid=$!
sleep 2
node_req DELETE "" >"$T/del.json" || fail "DELETE"
[ "$(jfield "$T/del.json" status)" = 204 ] || fail "DELETE: $(cat "$T/del.json")"
i=0
while kill -0 "$cpid" 2>/dev/null; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "the call outlived its trunk by 5 s"
  sleep 0.1
done
[ "$(jfield "$T/live.jsonl" outcome)" = ended_remote ] || fail "the call: $(tail -n 1 "$T/live.jsonl")"
grep -q '"trunk deleted"' "$T/live.jsonl" || fail "no end with reason 'trunk deleted'"
node_req GET /capAdv >"$T/after.json" || fail "capAdv after DELETE"
[ "$(jfield "$T/after.json" status)" = 401 ] || fail "the token still works: $(cat "$T/after.json")"
pass "DELETE {trunk}: 204, the live call ended ('trunk deleted'), the token refused (401)"
stop_rippd "$RIPPD_PID"
