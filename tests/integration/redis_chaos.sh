#!/bin/sh
# rippd on a Redis store that goes away under live calls (docs/store.md: synchronous reads
# behind a circuit breaker, call records and CDRs written behind). One rippd instance on
# redis-server (unix socket, append-only file fsynced at every write), calls placed
# directly on it:
#
#   redis_chaos.sh restart   8 calls up (2 of them end while Redis is away); redis-server
#       is killed (SIGKILL) and started again 2 s later on the same socket with the same
#       append-only file. No call is lost: every call ends normally (the caller ends it:
#       ended_local, every frame acknowledged, none lost) and has exactly one CDR, those
#       that ended while Redis was away included; the trunk and its token came back from
#       the file; 4 calls placed after the restart are answered and end normally too.
#   redis_chaos.sh down      8 calls up; redis-server is killed. While it is away: a new
#       call is refused with 503 and an application/problem+json body (curl, and ripp's
#       own summary), /readyz answers 503 store-unreachable, and the calls already up go
#       on (every frame acknowledged) and 2 of them end; redis-server comes back with its
#       file; /readyz is 200 again, new calls are answered, every call has one CDR.
#   redis_chaos.sh pause     the same as down with redis-server stopped by SIGSTOP (a Redis
#       that accepts connections and never answers) and resumed by SIGCONT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
case=${1:?usage: redis_chaos.sh restart|down|pause}
case $case in restart | down | pause) ;; *) echo "usage: redis_chaos.sh restart|down|pause" >&2; exit 2 ;; esac
cl_need "$REDIS_SERVER" /usr/bin/redis-cli /usr/bin/curl /usr/bin/openssl
cl_pki
CL_REDIS_AOF=1
cl_redis
P1=$(cl_port)
cl_rippd r1 "$P1"
TRUNK="https://localhost:$P1/trunks/$CL_TRUNK_ID"
rcli() { redis-cli -s "$SOCK" "$@"; }

# the calls up during the fault: 6 long ones (14 s) and 2 that end while Redis is away
i=1
live_pids=""
while [ "$i" -le 8 ]; do
  d=14
  [ "$i" -le 2 ] && d=5
  cl_call "$T/live.$i.jsonl" --duration "$d" --quiet &
  live_pids="$live_pids $!"
  i=$((i + 1))
done
cl_wait 20 sh -c "[ \$(grep -c 'created on trunk' '$T/r1.log') -ge 8 ]" ||
  fail "the calls did not start"
cl_wait 10 sh -c "[ \$(grep -c 'sent accepted' '$T/r1.log') -ge 8 ]" || fail "the calls were not answered"
sleep 2

# new_call_refused NAME: a call creation while the store is away: 503 + problem+json
new_call_refused() {
  code=$(curl -s --http2 --max-time 10 --cacert "$CA" -X POST \
    -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"target":"14085551212@e164.arpa"}' -o "$T/$1.body" \
    -w '%{http_code} %{content_type}' "$TRUNK/calls") || fail "curl: no answer to a call creation"
  case $code in
  "503 application/problem+json"*) ;;
  *) fail "a call creation with the store away was answered $code: $(head -c 300 "$T/$1.body")" ;;
  esac
  node -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (p.status !== 503 || typeof p.type !== "string" || !p.title) process.exit(1);' \
    "$T/$1.body" || fail "problem body: $(cat "$T/$1.body")"
  # and ripp's view of it: the capAdv GET before the creation, or the creation, got 503
  cl_call "$T/$1.jsonl" --quiet && fail "ripp placed a call with the store away"
  if [ -s "$T/$1.jsonl" ]; then
    [ "$(jfield "$T/$1.jsonl" http_status)" = 503 ] ||
      fail "ripp: the refused call reports $(tail -n 1 "$T/$1.jsonl")"
  else
    grep -q 'answered 503' "$T/$1.jsonl.log" || fail "ripp: $(cat "$T/$1.jsonl.log")"
  fi
}

readyz() {
  curl -s --http2 --max-time 5 --cacert "$CA" -o "$T/readyz.body" -w '%{http_code}' \
    "https://localhost:$P1/readyz"
}

problems=""
t0=$(date +%s.%N)
case $case in
restart)
  cl_redis_kill
  sleep 2
  cl_redis_start
  # the append-only file brought back what rippd wrote at its start (never written again)
  [ "$(rcli HGET "ripp:trunk:$CL_TRUNK_ID" id)" = "$CL_TRUNK_ID" ] || fail "the trunk did not survive the restart"
  [ "$(rcli SCARD "ripp:trunk-tokens:$CL_TRUNK_ID")" -ge 1 ] || fail "the token did not survive the restart"
  ;;
down | pause)
  if [ "$case" = down ]; then cl_redis_kill; else kill -STOP "$REDIS_PID"; fi
  sleep 0.3
  new_call_refused refused1
  rz=$(readyz) || rz=none
  [ "$rz" = 503 ] && grep -q store-unreachable "$T/readyz.body" ||
    fail "/readyz with the store away: $rz $(cat "$T/readyz.body" 2>/dev/null)"
  sleep 1.5
  new_call_refused refused2
  if [ "$case" = down ]; then cl_redis_start; else kill -CONT "$REDIS_PID"; fi
  # back in service once the store answers again (bounded; judged at the end, so that
  # the calls are checked as well)
  cl_wait 15 sh -c "[ \"\$(curl -s --http2 --max-time 2 --cacert '$CA' -o /dev/null -w '%{http_code}' https://localhost:$P1/readyz)\" = 200 ]" ||
    problems="$problems; /readyz still $(readyz) 15 s after the store came back: $(cat "$T/readyz.body")"
  ;;
esac
t1=$(date +%s.%N)
away=$(node -e 'console.log((process.argv[2] - process.argv[1]).toFixed(1))' "$t0" "$t1")

# soft_check FILE: cl_check_call, noted in $problems instead of failing at once
soft_check() {
  ( cl_check_call "$1" ) >"$T/soft.out" 2>&1 || problems="$problems; $(grep FAIL "$T/soft.out" | head -n 1 | sed "s/^FAIL: //")"
}
# new calls after the store came back
cl_calls 4 4 new
k=1
while [ "$k" -le 4 ]; do soft_check "$T/new.$k.jsonl"; k=$((k + 1)); done
ok=0
for p in $live_pids; do wait "$p" && ok=$((ok + 1)) || true; done
k=1
while [ "$k" -le 8 ]; do soft_check "$T/live.$k.jsonl"; k=$((k + 1)); done
[ "$ok" = 8 ] || problems="$problems; $ok of 8 calls up during the fault ended normally"
# the CDRs: rippd writes what is still queued when it stops
stop_rippd "$PID_r1"
! grep -q 'not written at close' "$T/r1.log" ||
  problems="$problems; rippd could not write everything: $(grep 'not written at close' "$T/r1.log")"
"$RIPPD" --db "$STORE" --cdrs >"$T/cdrs.jsonl" || fail "reading the CDRs"
node - "$T" <<'JS' >"$T/cdr-check.out" 2>&1 || problems="$problems; $(cat "$T/cdr-check.out")"
const fs = require("fs"), T = process.argv[2];
const cdrs = fs.readFileSync(T + "/cdrs.jsonl", "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const bad = [];
let frames = 0;
for (const f of [...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `live.${i}`), ...[1, 2, 3, 4].map((i) => `new.${i}`)]) {
  const s = JSON.parse(fs.readFileSync(`${T}/${f}.jsonl`, "utf8").trim().split("\n").pop());
  const id = s.call.replace(/.*\//, "");
  const mine = cdrs.filter((c) => c.call_id === id);
  if (mine.length !== 1 || mine[0].outcome !== "ended_remote")
    bad.push(`${f}: CDRs ${JSON.stringify(mine.map((c) => c.outcome))}`);
  frames += s.sent;
}
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
console.log(`12 CDRs (8 calls up during the fault, 4 after), ${frames} client frames`);
JS
# the figures, whatever the outcome
node -e '
  let lost = 0, sent = 0, fails = 0;
  for (const f of process.argv.slice(1)) {
    try { const s = JSON.parse(require("fs").readFileSync(f, "utf8").trim().split("\n").pop()); lost += s.lost; sent += s.sent; } catch (e) {}
    try { fails += (require("fs").readFileSync(f + ".log", "utf8").match(/; reconnecting/g) || []).length; } catch (e) {}
  }
  console.log(`calls up during the fault and after: frames sent ${sent}, lost ${lost}; failures declared ${fails}`);
' "$T"/live.*.jsonl "$T"/new.*.jsonl
echo "rippd refused $(grep -c '503 store-unavailable' "$T/r1.log" || true) requests with 503 store-unavailable"
[ -z "$problems" ] || fail "${problems#; }"
refused=""
[ "$case" = restart ] || refused="; new calls refused with 503 problem+json while it was away"
pass "Redis $case under 8 live calls (away ${away} s): all ended normally, every frame acked$refused; 4 new calls after; $(cat "$T/cdr-check.out")"
