#!/bin/sh
# Graceful migration (SPEC §7.2, P5, P6): two rippd --dev instances share one state directory
# (one certificate naming localhost, one identity key pair, one SQLite store); N calls are
# placed on A; A is drained (ripp admin drain --migrate-to B, or SIGUSR1 with
# "drain_migrate_to" configured). Every call goes on at B (B's log shows it taken over) and
# ends normally; every client frame is acknowledged (sent == acked, lost 0), nothing is
# received twice, every call has exactly one CDR (written by B, ended normally); A exits by
# itself once its calls have left.
# The drain cases also check the audio: A's and B's jitter buffers took every client frame
# once (in time or late), and the client played >= 90% of what B sent (DRAIN_CHECK_RX=0
# leaves these two checks out).
# HOW restart is the crash case without a balancer: A is killed (SIGKILL) and started again
# on its port with the same state (as a supervisor restarts it). Each client detects the
# failure (over HTTP/3 the new A resets the old QUIC connection: a stateless reset, which
# must be in its log), reconnects to its call URI, and the new A takes the call over from the store;
# every call ends normally with one CDR, and the frames lost per call are bounded (< 2 s
# worth, 100) and printed with the gap (kill -> taken over).
# TRANSPORT h3 places the calls over HTTP/3 (both instances serve it): the client moves
# to B over a new QUIC connection; each call's summary must name the transport asked for.
#   drain.sh admin|sigusr1|restart [N] [SECONDS] [h2|h3]
. "$(dirname "$0")/lib.sh"
HOW=${1:-admin} N=${2:-10} DUR=${3:-8} TRANSPORT=${4:-h2}
usage() { echo "usage: drain.sh admin|sigusr1|restart [N] [SECONDS] [h2|h3]" >&2; exit 2; }
case $HOW in admin | sigusr1 | restart) ;; *) usage ;; esac
case $TRANSPORT in h2 | h3) ;; *) usage ;; esac

# a certificate naming localhost: D30 wants a host name in migrateToURI
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$T/k.pem" -out "$T/c.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 || fail "openssl req"
# --dev keeps the certificate it finds in its state directory (and the identity key pair
# the first instance makes there)
mkdir -p "$T/s" && cp "$T/c.pem" "$T/s/cert.pem" && cp "$T/k.pem" "$T/s/key.pem"

port_of() { sed -n 's|.*"trunk":"https://[^:]*:\([0-9]*\)/.*|\1|p' "$1"; }
now() { date +%s.%N; }
secs() { node -e 'console.log((process.argv[2] - process.argv[1]).toFixed(2))' "$1" "$2"; }

start_inst() { # NAME CONFIG [ARGS...]
  name=$1 cfg=$2
  shift 2
  "$RIPPD" --dev --state-dir "$T/s" --config "$cfg" --hold-timeout 5000 \
    --answer echo --log-level info "$@" >"$T/$name.json" 2>"$T/$name.log" &
  eval "PID_$name=$!"
  RIPPD_PIDS="$RIPPD_PIDS $!"
  i=0
  while [ ! -s "$T/$name.json" ]; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "rippd $name did not start"
    sleep 0.1
  done
}

echo '{"admin_token":"adm-0123456789"}' >"$T/b.cfg"
start_inst b "$T/b.cfg"
PB=$(port_of "$T/b.json")
echo "{\"admin_token\":\"adm-0123456789\",\"drain_migrate_to\":\"localhost:$PB\"}" >"$T/a.cfg"
start_inst a "$T/a.cfg"
PA=$(port_of "$T/a.json")
# both serve the one certificate of the state directory
[ "$(jfield "$T/a.json" ca)" = "$(jfield "$T/b.json" ca)" ] || fail "two certificates"
cmp -s "$T/c.pem" "$T/s/cert.pem" || fail "rippd replaced the certificate of its state directory"
TRUNK=$(jfield "$T/a.json" trunk | sed "s|https://127.0.0.1:|https://localhost:|")
TOKEN=$(jfield "$T/a.json" token)
KEY=$(jfield "$T/a.json" identity_key)
[ "$KEY" = "$(jfield "$T/b.json" identity_key)" ] || fail "two identity keys"

pids=""
for i in $(seq 1 "$N"); do
  timeout 60 "$RIPP" call --transport "$TRANSPORT" --trunk "$TRUNK" --token "$TOKEN" --ca "$T/c.pem" \
    --identity-key "$KEY" --to +14085551212 --from +14085550100 --duration "$DUR" --quiet \
    >"$T/call$i.json" 2>"$T/call$i.log" &
  pids="$pids $!"
done
i=0
until [ "$(grep -c 'created on trunk' "$T/a.log")" = "$N" ]; do
  i=$((i + 1))
  [ $i -le 150 ] || fail "the calls did not start on A"
  sleep 0.1
done
sleep 2
if [ "$HOW" = restart ]; then
  t_kill=$(node -e 'console.log(Date.now())') # ms since the epoch, as in the logs
  kill -KILL "$PID_a"
  wait "$PID_a" 2>/dev/null || true
  start_inst a2 "$T/a.cfg" --port "$PA"
  [ "$(port_of "$T/a2.json")" = "$PA" ] || fail "A did not come back on port $PA"
  ok=0
  for p in $pids; do wait "$p" && ok=$((ok + 1)) || true; done
  stop_rippd "$PID_a2"
  stop_rippd "$PID_b"
  "$RIPPD" --db "$T/s/rippd.db" --cdrs >"$T/cdrs.jsonl"
  node - "$T" "$N" "$TRANSPORT" "$t_kill" >"$T/report.txt" 2>&1 <<'JS' || { cat "$T/report.txt"; fail "see above"; }
const fs = require("fs");
const [T, N, transport, tKill] = [process.argv[2], Number(process.argv[3]), process.argv[4], Number(process.argv[5])];
const ts = (l) => Date.parse(l.slice(0, 24));
const log = fs.readFileSync(T + "/a2.log", "utf8").split("\n");
const cdrs = fs.readFileSync(T + "/cdrs.jsonl", "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const bad = [], gaps = [];
let sent = 0, lost = 0;
for (let i = 1; i <= N; i++) {
  let s;
  try {
    const lines = fs.readFileSync(`${T}/call${i}.json`, "utf8").trim().split("\n");
    s = JSON.parse(lines[lines.length - 1]);
  } catch (e) { bad.push(`call ${i}: no summary`); continue; }
  const id = s.call.replace(/.*\//, "");
  if (s.answered !== true || s.outcome !== "ended_local") bad.push(`call ${i}: ${s.outcome}`);
  if (s.transport !== transport) bad.push(`call ${i}: transport ${s.transport}, not ${transport}`);
  if (!(s.sent > 0) || s.lost >= 100) bad.push(`call ${i}: ${s.lost} of ${s.sent} frames lost (2 s worth is 100)`);
  sent += s.sent; lost += s.lost;
  const tkos = log.filter((l) => l.includes(`call ${id} taken over from the store`));
  if (tkos.length !== 1) bad.push(`call ${i}: taken over ${tkos.length} times by the new A`);
  else gaps.push(ts(tkos[0]) - tKill);
  const done = log.find((l) => l.includes(`call ${id} done: `));
  if (!done || !/done: ended_remote /.test(done)) bad.push(`call ${i}: new A: ${done || "no end"}`);
  const mine = cdrs.filter((c) => c.call_id === id);
  if (mine.length !== 1 || mine[0].outcome !== "ended_remote") bad.push(`call ${i}: CDRs ${JSON.stringify(mine.map((c) => c.outcome))}`);
}
gaps.sort((a, b) => a - b);
console.log(`calls ${N} (${transport}); kill -> taken over by the new A: min ${gaps[0]} ms, max ${gaps[gaps.length - 1]} ms; ` +
  `client frames sent ${sent}, lost ${lost} (${(lost / N).toFixed(1)} per call); CDRs ${cdrs.length}`);
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
  cat "$T/report.txt"
  [ "$ok" = "$N" ] || fail "$ok of $N ripp call exited 0"
  # over QUIC the new A answers the old connection's packets with a stateless reset (the
  # same key, the same reset tokens), so that the clients give it up at once
  if [ "$TRANSPORT" = h3 ]; then
    grep -q "stateless reset for a connection this instance does not have" "$T/a2.log" ||
      fail "the new A sent no stateless reset"
  fi
  pass "A killed and restarted: $N calls ($TRANSPORT) reconnected, taken over from the store, ended normally, one CDR each"
  exit 0
fi
t0=$(now)
if [ "$HOW" = sigusr1 ]; then
  kill -USR1 "$PID_a"
else
  "$RIPP" admin drain --url "https://localhost:$PA" --token wrong --ca "$T/c.pem" \
    >/dev/null 2>"$T/wrong.log" && fail "a wrong admin token was accepted"
  grep -q 'HTTP 403' "$T/wrong.log" || fail "wrong token: $(cat "$T/wrong.log")"
  "$RIPP" admin drain --url "https://localhost:$PA" --token adm-0123456789 \
    --migrate-to "localhost:$PB" --ca "$T/c.pem" >"$T/drain.json" 2>"$T/drain.log" ||
    fail "ripp admin drain: $(cat "$T/drain.log")"
  [ "$(jfield "$T/drain.json" calls)" = "$N" ] || fail "drain answered $(cat "$T/drain.json")"
fi
# A leaves by itself once its calls have gone (bounded by its hold time, 5 s)
i=0
while kill -0 "$PID_a" 2>/dev/null; do
  i=$((i + 1))
  [ $i -le 200 ] || fail "A did not exit within 20 s of the drain"
  sleep 0.05
done
t1=$(now)
wait "$PID_a" || fail "A exited with status $?"
grep -q "draining: $N calls to be sent migrate to localhost:$PB" "$T/a.log" || fail "A: $(grep draining "$T/a.log")"
grep -q "drained: ending 0 calls" "$T/a.log" || fail "A did not leave drained: $(tail -n 3 "$T/a.log")"
pass "A drained ($HOW) and exited by itself $(secs "$t0" "$t1") s after the drain began"

ok=0
for p in $pids; do wait "$p" && ok=$((ok + 1)) || true; done
stop_rippd "$PID_b"
"$RIPPD" --db "$T/s/rippd.db" --cdrs >"$T/cdrs.jsonl"

# the figures, and the checks: the clients' summaries, A's and B's logs, the CDRs
node - "$T" "$N" "$TRANSPORT" >"$T/report.txt" 2>&1 <<'JS' || { cat "$T/report.txt"; fail "see above"; }
const fs = require("fs");
const [T, N, transport] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const ts = (l) => Date.parse(l.slice(0, 24));
const alog = fs.readFileSync(T + "/a.log", "utf8").split("\n");
const blog = fs.readFileSync(T + "/b.log", "utf8").split("\n");
const cdrs = fs.readFileSync(T + "/cdrs.jsonl", "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const bad = [];
let sent = 0, acked = 0, lost = 0, dups = 0, rxf = 0, conc = 0, fromB = 0, rxAfter = 0, delivered = 0;
const gaps = [];
for (let i = 1; i <= N; i++) {
  let s;
  try {
    const lines = fs.readFileSync(`${T}/call${i}.json`, "utf8").trim().split("\n");
    s = JSON.parse(lines[lines.length - 1]);
  } catch (e) { bad.push(`call ${i}: no summary`); continue; }
  const id = s.call.replace(/.*\//, "");
  if (s.answered !== true || s.outcome !== "ended_local") bad.push(`call ${i}: ${s.outcome}`);
  if (s.transport !== transport) bad.push(`call ${i}: transport ${s.transport}, not ${transport}`);
  if (s.sent !== s.acked || s.lost !== 0) bad.push(`call ${i}: sent ${s.sent} acked ${s.acked} lost ${s.lost}`);
  if (s.rx_duplicates !== 0) bad.push(`call ${i}: ${s.rx_duplicates} frames received twice`);
  sent += s.sent; acked += s.acked; lost += s.lost; dups += s.rx_duplicates; rxf += s.rx_frames;
  conc += s.rx_concealed;
  const mig = alog.find((l) => l.includes(`call ${id}: migrate sent to https://localhost:`));
  const tko = blog.find((l) => l.includes(`call ${id} taken over from the store`));
  const done = blog.find((l) => l.includes(`call ${id} done: `));
  if (!mig) bad.push(`call ${i}: A sent no migrate`);
  if (!tko) bad.push(`call ${i}: B did not take it over`);
  else if (mig) gaps.push(ts(tko) - ts(mig));
  if (!done || !/done: ended_remote /.test(done)) bad.push(`call ${i}: B: ${done || "no end"}`);
  const mine = cdrs.filter((c) => c.call_id === id);
  if (mine.length !== 1) bad.push(`call ${i}: ${mine.length} CDRs`);
  else if (mine[0].outcome !== "ended_remote") bad.push(`call ${i}: CDR outcome ${mine[0].outcome}`);
  // A releases a migrated call without an outcome (no CDR)
  const adone = alog.find((l) => l.includes(`call ${id} done:`));
  if (!adone || !/done: none /.test(adone)) bad.push(`call ${i}: A: ${adone || "no release"}`);
  const st = (l) => (l ? JSON.parse(l.slice(l.indexOf("{"))) : {});
  const sa = st(adone), sb = st(done);
  if (sa.rx_duplicates + sb.rx_duplicates !== 0)
    bad.push(`call ${i}: frames received twice at A ${sa.rx_duplicates}, B ${sb.rx_duplicates}`);
  // what A and B took of the client's frames (their jitter buffers: in time or late)
  const got = (x) => (x.rx_frames || 0) + (x.rx_late || 0);
  delivered += got(sa) + got(sb);
  if (process.env.DRAIN_CHECK_RX !== "0" && got(sa) + got(sb) !== s.sent)
    bad.push(`call ${i}: sent ${s.sent}, received at A ${got(sa)} + B ${got(sb)} (twice ${sa.rx_duplicates} + ${sb.rx_duplicates})`);
  const after = sb.sent || 0; // frames B sent the client
  fromB += after; rxAfter += s.rx_frames - (sa.sent || 0);
  if (process.env.DRAIN_CHECK_RX !== "0" && s.rx_frames - (sa.sent || 0) < 0.9 * after)
    bad.push(`call ${i}: B sent ${after} frames, the client received ${s.rx_frames - sa.sent}`);
}
gaps.sort((a, b) => a - b);
const avg = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
console.log(`calls ${N}; migrate -> taken over at B: mean ${avg.toFixed(0)} ms, max ${gaps[gaps.length - 1]} ms; ` +
  `client frames sent ${sent} acked ${acked} lost ${lost}, received by A + B ${delivered}; ` +
  `client received ${rxf} (concealed ${conc}, twice ${dups}), of B's ${fromB} frames ${rxAfter}; CDRs ${cdrs.length}`);
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
cat "$T/report.txt"
[ "$ok" = "$N" ] || fail "$ok of $N ripp call exited 0"
pass "$N calls ($TRANSPORT) continued on B and ended normally; every client frame acknowledged (lost 0), none received twice, one CDR each"
