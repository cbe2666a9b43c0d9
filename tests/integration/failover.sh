#!/bin/sh
# Calls that survive an instance (SPEC §7.2, §7.3, P3, P5, P6): two rippd instances on one
# Redis store behind HAProxy (deploy/haproxy.cfg, cookie stickiness). N calls are placed
# through the balancer while r2 is out of rotation, so that r1 holds them all; r2 comes
# back; then r1 goes away:
#
#   failover.sh crash [N] [SECONDS]   r1 is killed (SIGKILL). Each client detects the
#       failure, reconnects through HAProxy, r2 takes the call over from the store, and every
#       call ends normally with one CDR. The gap (kill -> taken over at r2) and the frames
#       lost are printed per call; the frames never acknowledged are bounded (< 2 s worth,
#       100 frames, per call). With N >= 20 the reconnect storm is checked too: the
#       reconnects that reached r2 (its "taken over" lines) are spread, at most 80 % of the
#       calls within any 10 ms (the first attempt of each client is jittered over 20 ms, the
#       retries back off from 50 ms: SPEC P3; a uniform spread of 50 calls over 20 ms puts
#       at most 40 into one 10 ms window in 99.99 % of draws).
#   failover.sh drain [N] [SECONDS]   r1 is drained with `ripp admin drain --migrate-to`
#       r2's own balancer route (as deploy/slot.sh does). Every call goes on at r2 (taken
#       over once) and ends normally with one CDR (r2's); every frame is delivered exactly
#       once: the client's sent == acked, lost 0, and r1 + r2 received each of the client's
#       frames once (their receive counts, in time or late, add up to sent; no duplicate);
#       the client received no frame twice; r1 exits by itself, having released every call
#       without a CDR.
#
# FAILOVER_CHECK_RX=1 also wants the client to have played >= 80% of the call's frames.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
case=${1:-crash} N=${2:-6} DUR=${3:-10}
case $case in crash | drain) ;; *) echo "usage: failover.sh crash|drain [N] [SECONDS]" >&2; exit 2 ;; esac

cl_need "$REDIS_SERVER" "$HAPROXY" /usr/bin/socat /usr/bin/openssl
ADM=adm-failover-0123456789
[ "$case" = drain ] && CL_ADMIN_TOKEN=$ADM
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

# every call on r1: r2 out of rotation while they are placed. r1's health checks are
# paused meanwhile: many clients starting at once (TLS, keys) can starve the check program
# (curl) of CPU on a small machine past its 1 s limit, and two such checks take r1 out of
# rotation too (HAProxy then answers 503 itself)
touch "$T/r2.maint"
lbctl wait-down s2 10 || fail "s2 still in rotation: $(lbctl status)"
printf 'disable health rippd/s1\n' | socat -t 5 stdio "UNIX-CONNECT:$RIPP_LB_ADMIN" >/dev/null
i=1
pids=""
while [ "$i" -le "$N" ]; do
  cl_call "$T/f.$i.jsonl" --duration "$DUR" --quiet &
  pids="$pids $!"
  i=$((i + 1))
  [ "$N" -le 10 ] || sleep 0.05
done
cl_wait 30 sh -c "[ \$(grep -c 'created on trunk' '$T/r1.log') -ge $N ]" ||
  fail "the calls did not start on r1 ($(grep -c 'created on trunk' "$T/r1.log") of $N)"
printf 'enable health rippd/s1\n' | socat -t 5 stdio "UNIX-CONNECT:$RIPP_LB_ADMIN" >/dev/null
rm "$T/r2.maint"
lbctl wait-up s2 10 || fail "s2 not back in rotation: $(lbctl status)"
sleep 1
# ms since the epoch, as in the logs
t_fault=$(node -e 'console.log(Date.now())')
t_exit=0
if [ "$case" = crash ]; then
  kill -KILL "$PID_r1"
else
  # r2's own route on the balancer (use-server by destination port): every request of a
  # moved call reaches r2, whatever cookie it carries
  "$RIPP" admin drain --url "https://localhost:$P1" --token "$ADM" \
    --migrate-to "localhost:$LB_PORT_S2" --ca "$CA" >"$T/drain.json" 2>"$T/drain.log" ||
    fail "ripp admin drain: $(cat "$T/drain.log")"
  [ "$(jfield "$T/drain.json" calls)" = "$N" ] || fail "drain answered $(cat "$T/drain.json")"
  # r1 leaves by itself once its calls have gone (bounded by its hold time, 5 s)
  i=0
  while kill -0 "$PID_r1" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 400 ] || fail "r1 did not exit within 20 s of the drain"
    sleep 0.05
  done
  t_exit=$(node -e 'console.log(Date.now())')
  wait "$PID_r1" || fail "r1 exited with status $?"
  grep -q "drained: ending 0 calls" "$T/r1.log" || fail "r1 did not leave drained: $(tail -n 3 "$T/r1.log")"
fi
ok=0
for p in $pids; do wait "$p" && ok=$((ok + 1)) || true; done
sleep 0.5
"$RIPPD" --db "$STORE" --cdrs >"$T/cdrs-early.jsonl" || fail "reading the CDRs"
# r2 writes its CDRs behind; what is still queued is written when it stops
stop_rippd "$PID_r2"
"$RIPPD" --db "$STORE" --cdrs >"$T/cdrs.jsonl" || fail "reading the CDRs"
echo "CDRs in the store 0.5 s after the last call ended: $(grep -c . "$T/cdrs-early.jsonl" || true); after r2 stopped: $(grep -c . "$T/cdrs.jsonl" || true)"

node - "$T" "$N" "$t_fault" "$case" "$t_exit" >"$T/report.txt" 2>&1 <<'JS' || { cat "$T/report.txt"; fail "see above"; }
const fs = require("fs");
const [T, N, tFault, kase, tExit] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]),
  process.argv[5], Number(process.argv[6])];
const ts = (l) => Date.parse(l.slice(0, 24));
const r1 = fs.readFileSync(T + "/r1.log", "utf8").split("\n");
const r2 = fs.readFileSync(T + "/r2.log", "utf8").split("\n");
const cdrs = fs.readFileSync(T + "/cdrs.jsonl", "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const st = (l) => (l ? JSON.parse(l.slice(l.indexOf("{"))) : {});
const bad = [], rows = [], arrivals = [], detections = [];
let lostAll = 0, gapMax = 0, sentAll = 0, ackedAll = 0, extraAcks = 0, failures = 0, rxAll = 0;
for (let i = 1; i <= N; i++) {
  let s;
  try {
    const lines = fs.readFileSync(`${T}/f.${i}.jsonl`, "utf8").trim().split("\n");
    s = JSON.parse(lines[lines.length - 1]);
  } catch (e) { bad.push(`call ${i}: no summary`); continue; }
  const id = s.call.replace(/.*\//, "");
  if (!r1.some((l) => l.includes(`call ${id} created on trunk`))) bad.push(`call ${i}: not created on r1`);
  if (s.answered !== true || s.outcome !== "ended_local") bad.push(`call ${i}: outcome ${s.outcome}`);
  const tkos = r2.filter((l) => l.includes(`call ${id} taken over from the store`));
  const done = r2.find((l) => l.includes(`call ${id} done: `));
  if (!tkos.length) { bad.push(`call ${i}: r2 did not take it over`); continue; }
  if (tkos.length !== 1) bad.push(`call ${i}: taken over ${tkos.length} times by r2`);
  if (!done || !/done: ended_remote /.test(done)) bad.push(`call ${i}: r2: ${done || "no end"}`);
  const sb = st(done);
  sentAll += s.sent; ackedAll += s.acked; lostAll += s.lost;
  extraAcks += Math.max(0, s.acked - s.sent);
  // the client's own account of its failures ("failure (...); reconnecting")
  const clog = fs.existsSync(`${T}/f.${i}.jsonl.log`) ? fs.readFileSync(`${T}/f.${i}.jsonl.log`, "utf8").split("\n") : [];
  const fails = clog.filter((l) => l.includes("; reconnecting"));
  failures += fails.length;
  const first = fails.find((l) => ts(l) >= tFault);
  if (first) detections.push(ts(first) - tFault);
  const mine = cdrs.filter((c) => c.call_id === id);
  if (mine.length !== 1 || mine[0].outcome !== "ended_remote")
    bad.push(`call ${i}: CDRs ${JSON.stringify(mine.map((c) => c.outcome))}`);
  if (s.rx_duplicates !== 0) bad.push(`call ${i}: the client received ${s.rx_duplicates} frames twice`);
  if (kase === "crash") {
    const gap = ts(tkos[0]) - tFault;
    arrivals.push(ts(tkos[0]));
    gapMax = Math.max(gapMax, gap);
    // frames the client sent that no instance acknowledged (in flight to r1, or dropped)
    if (!(s.sent > 0) || s.lost >= 100) bad.push(`call ${i}: ${s.lost} of ${s.sent} frames lost (2 s worth is 100)`);
    rows.push(`call ${i}: kill -> taken over at r2 ${gap} ms; client sent ${s.sent} acked ${s.acked} lost ${s.lost}, ` +
      `failures ${fails.length}; r2 received ${done ? sb.rx_frames : "?"} of them (twice ${done ? sb.rx_duplicates : "?"}); ` +
      `client received ${s.rx_frames}, concealed ${s.rx_concealed}`);
  } else {
    // exactly once: every frame acknowledged, each received once by r1 or r2
    const mig = r1.find((l) => l.includes(`call ${id}: migrate sent to https://localhost:`));
    const adone = r1.find((l) => l.includes(`call ${id} done:`));
    if (!mig) bad.push(`call ${i}: r1 sent no migrate`);
    if (!adone || !/done: none /.test(adone)) bad.push(`call ${i}: r1: ${adone || "no release"}`);
    const sa = st(adone);
    const gap = mig ? ts(tkos[0]) - ts(mig) : NaN;
    if (mig) gapMax = Math.max(gapMax, gap);
    if (s.sent !== s.acked || s.lost !== 0) bad.push(`call ${i}: sent ${s.sent} acked ${s.acked} lost ${s.lost}`);
    // received = taken into a jitter buffer in time, or too late to play (rx_late): either
    // way the frame reached a receiver
    const got = (x) => (x.rx_frames || 0) + (x.rx_late || 0);
    const rx = got(sa) + got(sb), dup = (sa.rx_duplicates || 0) + (sb.rx_duplicates || 0);
    rxAll += rx;
    if (dup !== 0) bad.push(`call ${i}: frames received twice at r1 ${sa.rx_duplicates}, r2 ${sb.rx_duplicates}`);
    if (rx !== s.sent) bad.push(`call ${i}: sent ${s.sent}, received at r1 ${got(sa)} (late ${sa.rx_late}) + r2 ${got(sb)} (late ${sb.rx_late})`);
    rows.push(`call ${i}: migrate -> taken over at r2 ${gap} ms; client sent ${s.sent} acked ${s.acked} lost ${s.lost}, ` +
      `failures ${fails.length}; received at r1 ${got(sa)} + r2 ${got(sb)} (late ${(sa.rx_late || 0) + (sb.rx_late || 0)}, twice ${dup}); ` +
      `client received ${s.rx_frames}, concealed ${s.rx_concealed}`);
  }
  if (process.env.FAILOVER_CHECK_RX === "1" && s.rx_frames + s.rx_concealed > 0 &&
      s.rx_concealed > (s.rx_frames + s.rx_concealed) * 0.2)
    bad.push(`call ${i}: the client concealed ${s.rx_concealed} of ${s.rx_frames + s.rx_concealed} frames (r2 sent ${sb.sent})`);
}
console.log(rows.join("\n"));
const q = (a, p) => { const b = [...a].sort((x, y) => x - y); return b.length ? b[Math.max(0, Math.min(b.length - 1, Math.ceil(p * b.length) - 1))] : NaN; };
if (kase === "crash") {
  console.log(`calls ${N}: kill -> taken over at r2: max ${gapMax} ms; client frames sent ${sentAll} acked ${ackedAll} ` +
    `lost ${lostAll} (${(lostAll / N).toFixed(1)} per call), acks beyond sent ${extraAcks}; failures declared ${failures}`);
  // the reconnect storm: when each call's reconnect reached r2
  if (arrivals.length) {
    arrivals.sort((a, b) => a - b);
    let most = 0;
    for (let a = 0, b = 0; b < arrivals.length; b++) {
      while (arrivals[b] - arrivals[a] >= 10) a++;
      most = Math.max(most, b - a + 1);
    }
    const slots = new Set(arrivals.map((t) => Math.floor((t - arrivals[0]) / 10))).size;
    const limit = Math.ceil(0.8 * N);
    console.log(`reconnect storm: failures detected ${q(detections, 0)}..${q(detections, 1)} ms after the kill; ` +
      `reconnects reached r2 ${arrivals[0] - tFault}..${arrivals[arrivals.length - 1] - tFault} ms after it, ` +
      `at most ${most} in 10 ms (limit ${N >= 20 ? limit : "none below 20 calls"}), ${slots} 10-ms slots used`);
    if (N >= 20 && most > limit) bad.push(`reconnect storm: ${most} of ${N} reconnects within 10 ms`);
  }
} else {
  console.log(`calls ${N}: migrate -> taken over at r2: max ${gapMax} ms; r1 exited ${tExit - tFault} ms after the drain began; ` +
    `client frames sent ${sentAll} acked ${ackedAll} lost ${lostAll}, received by r1 + r2 ${rxAll}; failures declared ${failures}; CDRs ${cdrs.length}`);
}
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
cat "$T/report.txt"
[ "$ok" = "$N" ] || fail "$ok of $N ripp call exited 0"
if [ "$case" = crash ]; then
  pass "r1 killed: $N calls reconnected through HAProxy, taken over by r2, ended normally, one CDR each"
else
  pass "r1 drained: $N calls moved to r2 and ended normally, every frame delivered once, one CDR each; r1 exited"
fi
