#!/bin/sh
# rippd on a Redis store: a call's record and CDR land in a redis-server of the test's own
# (unix socket, no persistence), where redis-cli (not our code) reads them, and
# `rippd --cdrs` reads the CDR back through the store. Needs rippd to open --db through
# ripp_store_open.
. "$(dirname "$0")/lib.sh"
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
[ -x "$REDIS_SERVER" ] || { echo "skip: no $REDIS_SERVER"; exit 77; }
mkdir -p "$T/redis"
SOCK="$T/redis/redis.sock"
"$REDIS_SERVER" --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
  --appendonly no --dir "$T/redis" --daemonize no >"$T/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill -KILL "$REDIS_PID" 2>/dev/null || true; cleanup' EXIT
rcli() { redis-cli -s "$SOCK" "$@"; }
i=0
until [ "$(rcli PING 2>/dev/null)" = PONG ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "redis-server did not start"
  sleep 0.05
done
URL="unix:$SOCK"

"$RIPPD" --dev --state-dir "$T/srv" --db "$URL" --answer echo --log-level info \
  >"$T/srv.json" 2>"$T/srv.log" &
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
trunk_id=${TRUNK##*/}
[ "$(rcli HGET "ripp:trunk:$trunk_id" id)" = "$trunk_id" ] || fail "trunk $trunk_id not in Redis"
[ "$(rcli SCARD "ripp:trunk-tokens:$trunk_id")" -ge 1 ] || fail "no token of $trunk_id in Redis"
[ ! -e "$T/srv/rippd.db" ] || fail "rippd created a SQLite file beside the Redis store"

ripp_call "$T/call.jsonl" --dtmf '42#' --duration 3 || fail "ripp call exited $?"
id=$(call_id_of "$T/call.jsonl")
stop_rippd "$RIPPD_PID"

# the call record another instance would load (P5)
[ "$(rcli HGET "ripp:call:$id" id)" = "$id" ] || fail "no call record ripp:call:$id"
[ "$(rcli HGET "ripp:call:$id" trunk_id)" = "$trunk_id" ] || fail "call record: wrong trunk"
ttl=$(rcli PTTL "ripp:call:$id")
[ "$ttl" -gt 0 ] || fail "call record has no TTL ($ttl)"
# the CDR, in end order
[ "$(rcli ZRANGE ripp:cdrs -1 -1)" = "$id" ] || fail "CDR $id not last in ripp:cdrs"
[ "$(rcli HGET "ripp:cdr:$id" dtmf)" = '42#' ] || fail "CDR dtmf: $(rcli HGET "ripp:cdr:$id" dtmf)"
# and through the store again
DB="$URL"
digits=$(cdr_field "$id" dtmf)
[ "$digits" = '42#' ] || fail "rippd --cdrs: dtmf '$digits'"
pass "call $id: record and CDR in Redis (dtmf $digits, record TTL $ttl ms)"
