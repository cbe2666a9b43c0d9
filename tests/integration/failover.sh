#!/bin/sh
# Failover (SPEC §7.3, P3, P5): two rippd instances on one Redis store behind HAProxy
# (deploy/haproxy.cfg, cookie stickiness). N calls are placed through the balancer while r2
# is out of rotation, so that r1 holds them all; r2 comes back; r1 is killed (SIGKILL). Each
# client detects the failure, reconnects through HAProxy, r2 takes the call over from the
# store, and every call ends normally with one CDR. The gap (kill -> taken over at r2) and
# the frames lost are printed per call; the frames never acknowledged are bounded
# (< 2 s worth, 100 frames, per call).
# FAILOVER_CHECK_RX=1 also wants the client to have played >= 80% of the call's frames.
#   failover.sh crash [N] [SECONDS]
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
case=${1:-crash} N=${2:-6} DUR=${3:-10}
[ "$case" = crash ] || { echo "usage: failover.sh crash [N] [SECONDS]" >&2; exit 2; }

cl_need "$REDIS_SERVER" "$HAPROXY" /usr/bin/socat /usr/bin/openssl
cl_pki
cl_redis
cl_haproxy
P1=$(cl_port)
P2=$(cl_port)
cl_rippd r1 "$P1" --set-cookie SERVERID=s1
cl_rippd r2 "$P2" --set-cookie SERVERID=s2
lbctl attach s1 127.0.0.1 "$P1"
lbctl attach s2 127.0.0.1 "$P2"
lbctl wait-up s1 10 && lbctl wait-up s2 10 || fail "instances not UP: $(lbctl status)"

# every call on r1: r2 out of rotation while they are placed
touch "$T/r2.maint"
lbctl wait-down s2 10 || fail "s2 still in rotation: $(lbctl status)"
i=1
pids=""
while [ "$i" -le "$N" ]; do
  cl_call "$T/f.$i.jsonl" --duration "$DUR" --quiet &
  pids="$pids $!"
  i=$((i + 1))
done
cl_wait 20 sh -c "[ \$(grep -c 'created on trunk' '$T/r1.log') -ge $N ]" ||
  fail "the calls did not start on r1"
rm "$T/r2.maint"
lbctl wait-up s2 10 || fail "s2 not back in rotation: $(lbctl status)"
sleep 1
# ms since the epoch, as in the logs
t_kill=$(node -e 'console.log(Date.now())')
kill -KILL "$PID_r1"
ok=0
for p in $pids; do wait "$p" && ok=$((ok + 1)) || true; done
sleep 0.5
"$RIPPD" --db "$STORE" --cdrs >"$T/cdrs.jsonl" || fail "reading the CDRs"

node - "$T" "$N" "$t_kill" >"$T/report.txt" 2>&1 <<'JS' || { cat "$T/report.txt"; fail "see above"; }
const fs = require("fs");
const [T, N, tKill] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const ts = (l) => Date.parse(l.slice(0, 24));
const r1 = fs.readFileSync(T + "/r1.log", "utf8").split("\n");
const r2 = fs.readFileSync(T + "/r2.log", "utf8").split("\n");
const cdrs = fs.readFileSync(T + "/cdrs.jsonl", "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const bad = [], rows = [];
let lostAll = 0, gapMax = 0;
for (let i = 1; i <= N; i++) {
  let s;
  try {
    const lines = fs.readFileSync(`${T}/f.${i}.jsonl`, "utf8").trim().split("\n");
    s = JSON.parse(lines[lines.length - 1]);
  } catch (e) { bad.push(`call ${i}: no summary`); continue; }
  const id = s.call.replace(/.*\//, "");
  if (!r1.some((l) => l.includes(`call ${id} created on trunk`))) bad.push(`call ${i}: not created on r1`);
  if (s.answered !== true || s.outcome !== "ended_local") bad.push(`call ${i}: outcome ${s.outcome}`);
  const tko = r2.find((l) => l.includes(`call ${id} taken over from the store`));
  const done = r2.find((l) => l.includes(`call ${id} done: `));
  if (!tko) { bad.push(`call ${i}: r2 did not take it over`); continue; }
  if (!done || !/done: ended_remote /.test(done)) bad.push(`call ${i}: r2: ${done || "no end"}`);
  const gap = ts(tko) - tKill;
  gapMax = Math.max(gapMax, gap);
  const sb = done ? JSON.parse(done.slice(done.indexOf("{"))) : {};
  // frames the client sent that no instance acknowledged (in flight to r1, or dropped)
  lostAll += s.lost;
  if (!(s.sent > 0) || s.lost >= 100) bad.push(`call ${i}: ${s.lost} of ${s.sent} frames lost (2 s worth is 100)`);
  // the audio the client played of what r2 sent (not checked by default: docs/failover.md,
  // "Known problems")
  if (process.env.FAILOVER_CHECK_RX === "1" && s.rx_frames + s.rx_concealed > 0 &&
      s.rx_concealed > (s.rx_frames + s.rx_concealed) * 0.2)
    bad.push(`call ${i}: the client concealed ${s.rx_concealed} of ${s.rx_frames + s.rx_concealed} frames (r2 sent ${sb.sent})`);
  const mine = cdrs.filter((c) => c.call_id === id);
  if (mine.length !== 1 || mine[0].outcome !== "ended_remote")
    bad.push(`call ${i}: CDRs ${JSON.stringify(mine.map((c) => c.outcome))}`);
  rows.push(`call ${i}: kill -> taken over at r2 ${gap} ms; client sent ${s.sent} acked ${s.acked} lost ${s.lost}; ` +
    `r2 received ${sb.rx_frames} of them (twice ${sb.rx_duplicates}); client received ${s.rx_frames}, concealed ${s.rx_concealed}`);
}
console.log(rows.join("\n"));
console.log(`calls ${N}: largest gap ${gapMax} ms, client frames lost ${lostAll} (${(lostAll / N).toFixed(1)} per call)`);
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
cat "$T/report.txt"
[ "$ok" = "$N" ] || fail "$ok of $N ripp call exited 0"
pass "r1 killed: $N calls reconnected through HAProxy, taken over by r2, ended normally, one CDR each"
