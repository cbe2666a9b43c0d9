#!/bin/sh
# A bridged call survives the crash of its bridging instance (SPEC §7.3, P5; docs/failover.md
# "Bridged calls"): two bridging rippd instances X and Y (trunk answer bridge:<Z's trunk>) on
# one Redis store behind HAProxy (deploy/haproxy.cfg, cookie stickiness), and a callee rippd
# Z that echoes. `ripp call` goes through HAProxy to X (Y is out of rotation while the call
# is placed), X places leg B on Z. After a few seconds of audio X is killed (SIGKILL): the
# caller reconnects through HAProxy, Y takes leg A over from the store and re-opens leg B
# to Z from the next hop A's record names (no new call at Z: Z holds the call for its hold
# time and takes Y's byways); the relay resumes and the call ends normally.
#
# Checked: the caller's call is answered and ends normally, frames acked <= sent and lost <
# 100 (2 s worth); Y took leg A over once and adopted leg B; Z saw one call, which went on
# past the kill and ended normally (its CDR: ended_remote, ended after the kill by most of
# the rest of the call, its frames received); the echo the caller heard after the recovery
# matches what it sent (segment SNR and cross-correlation, as bridge.sh echo). Printed: the
# gaps (kill -> leg A taken over at Y, kill -> leg B re-established), the frames lost.
#
# With `drain`, X is drained instead (`ripp admin drain --migrate-to` Y's own balancer
# route, as deploy/slot.sh does): X sends migrate on leg A and hands leg B over (its byways
# are reset, no end is sent); Y takes A over and adopts B the same way. Checked as above,
# and X exits by itself without having ended leg B.
#   bridge_failover.sh [crash|drain] [SECONDS] [AT]     (defaults crash, 12 and 4)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
MODE=${1:-crash} DUR=${2:-12} KILL_AFTER=${3:-4}
case $MODE in crash | drain) ;; *) echo "usage: bridge_failover.sh [crash|drain] [SECONDS] [AT]" >&2; exit 2 ;; esac
ADM=adm-bridge-failover-0123456789

cl_need "$REDIS_SERVER" "$HAPROXY" /usr/bin/socat /usr/bin/openssl

# Z: the callee (its own SQLite store); its identity key signs the caller's PASSporT, which
# the bridges forward as it is
start_rippd far echo
FAR_PID=$RIPPD_PID FAR_TRUNK=$TRUNK FAR_TOKEN=$TOKEN FAR_CA=$CA FAR_KEY=$KEY FAR_DB=$DB

cl_pki
KEY=$FAR_KEY
cl_redis
cl_haproxy

# bf_rippd NAME PORT COOKIE: a bridging instance on the shared store (as cl_rippd, with the
# bridge trunk); sets PID_<NAME>.
bf_rippd() {
  name=$1 port=$2
  cat >"$T/$name.conf.json" <<JSON
{ "admin_token": "$ADM",
  "cert": "$T/pki/cert.pem",
  "key": "$T/pki/key.pem",
  "log_level": "info",
  "trunks": [
    {"id": "$CL_TRUNK_ID", "tokens": ["$TOKEN"], "answer": "bridge:$FAR_TRUNK",
     "bridge_token": "$FAR_TOKEN", "bridge_ca": "$FAR_CA",
     "identity_key": "$T/far/identity.pub.pem"}
  ]
}
JSON
  cl_start "$name" "$port" --set-cookie "$3"
}

PX=$(cl_port)
PY=$(cl_port)
bf_rippd x "$PX" SERVERID=s1
bf_rippd y "$PY" SERVERID=s2
lbctl attach s1 127.0.0.1 "$PX"
lbctl attach s2 127.0.0.1 "$PY"
lbctl wait-up s1 10 && lbctl wait-up s2 10 || fail "instances not UP: $(lbctl status)"

# the call on X: Y out of rotation while it is placed
touch "$T/y.maint"
lbctl wait-down s2 10 || fail "s2 still in rotation: $(lbctl status)"
"$WAVTOOL" gen "$T/speech.wav" --seconds "$((DUR + 2))" --seed 7
cl_call "$T/c.jsonl" --codec pcmu --play "$T/speech.wav" --record "$T/heard.wav" \
  --duration "$DUR" &
cpid=$!
cl_wait 15 grep -q '"name":"accepted"' "$T/c.jsonl" || fail "the call was not answered"
t_answer=$(node -e 'console.log(Date.now())')
grep -q "created on trunk" "$T/x.log" || fail "the call did not reach X"
rm "$T/y.maint"
lbctl wait-up s2 10 || fail "s2 not back in rotation: $(lbctl status)"
now=$(node -e 'console.log(Date.now())')
left=$((KILL_AFTER * 1000 - (now - t_answer)))
[ "$left" -le 0 ] || sleep "$(node -e "console.log($left / 1000)")"
t_kill=$(node -e 'console.log(Date.now())')
if [ "$MODE" = crash ]; then
  kill -KILL "$PID_x"
else
  "$RIPP" admin drain --url "https://localhost:$PX" --token "$ADM" \
    --migrate-to "localhost:$LB_PORT_S2" --ca "$CA" >"$T/drain.json" 2>"$T/drain.log" ||
    fail "ripp admin drain: $(cat "$T/drain.log")"
  [ "$(jfield "$T/drain.json" calls)" = 1 ] || fail "drain answered $(cat "$T/drain.json")"
  cl_wait 20 sh -c "! kill -0 $PID_x" || fail "X did not exit within 20 s of the drain"
  wait "$PID_x" || fail "X exited with status $?"
fi
st=0
wait "$cpid" || st=$?
sleep 0.5
"$RIPPD" --db "$STORE" --cdrs >"$T/cdrs.jsonl" || fail "reading the cluster's CDRs"
stop_rippd "$FAR_PID" # its call is over; its store is then read alone
"$RIPPD" --db "$FAR_DB" --cdrs >"$T/far_cdrs.jsonl" || fail "reading Z's CDRs"

# the echo heard after the recovery: from 2 s after the kill (or the drain) on
skip=$((t_kill - t_answer + 2000))
"$WAVTOOL" compare "$T/speech.wav" "$T/heard.wav" --max-lag-ms 1000 --segment-ms 100 \
  --skip-ms "$skip" >"$T/cmp.json" || echo '{"error":"compare failed"}' >"$T/cmp.json"

node - "$T" "$DUR" "$t_kill" "$t_answer" "$MODE" >"$T/report.txt" 2>&1 <<'JS' || { cat "$T/report.txt"; fail "see above"; }
const fs = require("fs");
const [T, DUR, tKill, tAnswer, MODE] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]),
  Number(process.argv[5]), process.argv[6]];
const ts = (l) => Date.parse(l.slice(0, 24));
const lines = (f) => fs.readFileSync(`${T}/${f}`, "utf8").split("\n");
const jsonl = (f) => fs.readFileSync(`${T}/${f}`, "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const x = lines("x.log"), y = lines("y.log"), z = lines("far.log");
const bad = [], say = [];
const c = jsonl("c.jsonl").pop();
const a = c.call.replace(/.*\//, "");
if (c.answered !== true || c.outcome !== "ended_local") bad.push(`caller: outcome ${c.outcome}`);
if (!(c.sent >= DUR * 50 * 0.9)) bad.push(`caller: only ${c.sent} frames sent in ${DUR} s`);
if (c.acked > c.sent) bad.push(`caller: acked ${c.acked} > sent ${c.sent}`);
if (!(c.lost < 100)) bad.push(`caller: ${c.lost} frames lost (2 s worth is 100)`);
if (!x.some((l) => l.includes(`call ${a} created on trunk`))) bad.push("leg A was not created on X");
const bridged = x.find((l) => l.includes(`call ${a}: bridged to`));
if (!bridged) bad.push("X did not bridge leg A");
// leg B: the call Z created (one, for the whole call)
const zc = z.filter((l) => / created on trunk/.test(l));
if (zc.length !== 1) bad.push(`Z created ${zc.length} calls, want 1`);
const b = zc.length ? zc[0].replace(/.*call ([0-9a-f-]+) created.*/, "$1") : "?";
const tko = y.filter((l) => l.includes(`call ${a} taken over from the store`));
if (tko.length !== 1) bad.push(`Y took leg A over ${tko.length} times, want 1`);
const adopted = y.find((l) => l.includes(`call ${a}: bridge: leg `) && l.includes(`/call/${b} re-opened`));
if (!adopted) bad.push(`Y did not re-open leg B (${b})`);
const reest = y.find((l) => l.includes(`call ${b}: signaling re-established`));
if (!reest) bad.push(`Y's leg B was not re-established`);
const ydone = y.find((l) => l.includes(`call ${a} done: `));
if (!ydone || !/done: ended_remote /.test(ydone)) bad.push(`Y, leg A: ${ydone || "no end"}`);
const ybdone = y.find((l) => l.includes(`call ${a}: leg ${b} done:`));
if (!ybdone || !/done: ended_local/.test(ybdone)) bad.push(`Y, leg B: ${ybdone || "no end"}`);
if (z.some((l) => l.includes(`call ${b} taken over`))) bad.push("Z took its own call over");
if (MODE === "drain") {
  if (!x.some((l) => l.includes(`call ${a}: leg ${b} handed over`))) bad.push("X did not hand leg B over");
  if (!x.some((l) => l.includes("drained: ending 0 calls"))) bad.push("X did not leave drained");
  if (c.sent !== c.acked || c.lost !== 0) bad.push(`caller: sent ${c.sent} acked ${c.acked} lost ${c.lost} (a drain loses nothing)`);
  // X relays the caller's frames to Z until the caller has moved, then Y does: Z gets each
  const zb1 = jsonl("far_cdrs.jsonl").find((d) => d.call_id === b), z1 = (zb1 && zb1.stats) || {};
  if (z1.rx_frames + z1.rx_late !== c.sent || z1.rx_duplicates !== 0)
    bad.push(`Z received ${z1.rx_frames} + ${z1.rx_late} late of the caller's ${c.sent} frames, ${z1.rx_duplicates} twice (a drain loses nothing)`);
}
// Z's CDR: the call went on past the kill, ended by the bridge's end, its frames received
const cdrs = jsonl("cdrs.jsonl"), zcdrs = jsonl("far_cdrs.jsonl");
const zb = zcdrs.filter((d) => d.call_id === b);
const rest = DUR * 1000 - (tKill - tAnswer); // ms of the call left at the kill
let zs = {};
if (zb.length !== 1) bad.push(`Z's CDRs of ${b}: ${zb.length}`);
else {
  zs = zb[0].stats || {};
  if (zb[0].outcome !== "ended_remote") bad.push(`Z's CDR: outcome ${zb[0].outcome}`);
  if (!(zb[0].end_ms - tKill >= rest - 1500)) bad.push(`Z's call ended ${zb[0].end_ms - tKill} ms after the ${MODE}, the call had ${rest} ms left`);
  if (!(zs.rx_frames >= DUR * 50 - 100)) bad.push(`Z received ${zs.rx_frames} frames of ${DUR * 50}`);
}
const ca = cdrs.filter((d) => d.call_id === a), cb = cdrs.filter((d) => d.call_id === b);
if (ca.length !== 1 || ca[0].outcome !== "ended_remote") bad.push(`leg A CDRs: ${JSON.stringify(ca.map((d) => d.outcome))}`);
if (ca.length === 1 && !String(ca[0].next_hop || "").startsWith(`https://127.0.0.1:`)) bad.push(`leg A next_hop ${ca[0].next_hop}`);
if (cb.length !== 1 || cb[0].outcome !== "ended_local") bad.push(`leg B CDRs at Y: ${JSON.stringify(cb.map((d) => d.outcome))}`);
const cmp = JSON.parse(fs.readFileSync(`${T}/cmp.json`, "utf8").trim().split("\n").pop());
if (!(cmp.seg_snr_median_db >= 20)) bad.push(`echo after the recovery: median segment SNR ${cmp.seg_snr_median_db} dB < 20`);
if (!(cmp.seg_xcorr_mean >= 0.9)) bad.push(`echo after the recovery: xcorr ${cmp.seg_xcorr_mean} < 0.9`);
if (!(cmp.speech_segments >= (rest - 2000) / 100 * 0.5)) bad.push(`echo after the recovery: only ${cmp.speech_segments} speech segments`);
const gapA = tko.length ? ts(tko[0]) - tKill : NaN, gapB = reest ? ts(reest) - tKill : NaN;
say.push(`${MODE} at ${tKill - tAnswer} ms of the call; leg A taken over at Y ${gapA} ms after it, ` +
  `leg B re-established ${gapB} ms after it (${reest ? reest.replace(/.*re-established/, "re-established") : "-"})`);
say.push(`caller: sent ${c.sent} acked ${c.acked} lost ${c.lost}, received ${c.rx_frames}, concealed ${c.rx_concealed}, ` +
  `duplicates ${c.rx_duplicates}`);
say.push(`Z (leg B): received ${zs.rx_frames} frames (duplicates ${zs.rx_duplicates}, concealed ${zs.rx_concealed}, late ${zs.rx_late}); ` +
  `sent ${zs.sent} acked ${zs.acked} lost ${zs.lost}; ended ${zb.length ? zb[0].end_ms - tKill : "?"} ms after the ${MODE}`);
say.push(`echo after the recovery: median segment SNR ${cmp.seg_snr_median_db} dB, xcorr ${cmp.seg_xcorr_mean}, ` +
  `${cmp.speech_segments} speech segments, lag ${cmp.lag_ms} ms`);
console.log(say.join("\n"));
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
cat "$T/report.txt"
[ "$st" = 0 ] || fail "ripp call exited $st"
pass "bridging instance X ($MODE): leg A taken over by Y, leg B re-opened to Z, the call went on and ended normally"
