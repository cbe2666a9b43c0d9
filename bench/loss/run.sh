#!/usr/bin/env bash
# Loss benchmark: frame latency of RIPP over HTTP/3 and HTTP/2 against a plain UDP (RTP-like)
# baseline, across a 40 ms RTT path with 0/1/2/5 % random packet loss. See README.md.
#   bench/loss/run.sh [BUILD_DIR]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
export RIPP_BUILD=$BUILD
LOSSES=${LOSS_PERMILLE:-0 10 20 50}
CALLS=${LOSS_CALLS:-10}
SECS=${LOSS_SECONDS:-20}
LATE_MS=${LOSS_LATE_MS:-60}
ONE_WAY_MS=${LOSS_DELAY_MS:-20}
OUTDIR=${LOSS_OUT:-$HERE/reports}
KEEP=${LOSS_KEEP_LOGS:-} # a directory: keep rippd's log and every ripp-load log there
RIPPD=$BUILD/apps/rippd
LOADGEN=$BUILD/apps/ripp-load

say() { echo "loss-bench: $*" >&2; }
die() {
	say "$*"
	exit 1
}
[[ $(id -u) == 0 ]] || die "needs root (network namespaces, nftables)"
command -v jq >/dev/null || die "needs jq"
for f in "$RIPPD" "$LOADGEN"; do [[ -x $f ]] || die "missing $f (build it first)"; done

# shellcheck source=../../tests/integration/netns.sh
. "$REPO/tests/integration/netns.sh"
netns_usable || die "missing ripp-delayline/ripp-udpbase in $BUILD, nft, ip or /dev/net/tun"
SCRATCH=$(mktemp -d /tmp/ripp-loss-bench.XXXXXX)
RIPPD_PID=""
bench_cleanup() {
	if [[ -n $RIPPD_PID ]]; then kill -KILL "$RIPPD_PID" 2>/dev/null || true; fi
	if [[ -n $KEEP ]]; then mkdir -p "$KEEP" && cp "$SCRATCH"/*.log "$KEEP/" 2>/dev/null || true; fi
	rm -rf "$SCRATCH"
}
NETNS_ON_EXIT=bench_cleanup
netns_setup || die "cannot set up the namespaces"
netns_delay "$ONE_WAY_MS" || die "cannot start the delay line"
RTT=$(netns_rtt 20) || die "no round trip through the delay line"
say "path: $(jq -r '"RTT min \(.rtt_min_ms) avg \(.rtt_avg_ms) max \(.rtt_max_ms) ms"' <<<"$RTT")"

# rippd (echo trunk) in B, for every run
ip netns exec "$NS_B" "$RIPPD" --dev --listen "$ADDR_B" --state-dir "$SCRATCH/srv" --answer echo \
	--log-level warn >"$SCRATCH/srv.json" 2>"$SCRATCH/srv.log" &
RIPPD_PID=$!
for _ in $(seq 150); do [[ -s $SCRATCH/srv.json ]] && break; sleep 0.1; done
[[ -s $SCRATCH/srv.json ]] || die "rippd did not start: $(tail -n 5 "$SCRATCH/srv.log")"
TRUNK=$(jq -r .trunk "$SCRATCH/srv.json")
TOKEN=$(jq -r .token "$SCRATCH/srv.json")
CA=$(jq -r .ca "$SCRATCH/srv.json")
KEY=$(jq -r .identity_key "$SCRATCH/srv.json")

load() { # TRANSPORT CALLS SECONDS WARMUP -> JSON line on stdout
	ip netns exec "$NS_A" timeout -k 5 $(($3 + 90)) "$LOADGEN" --trunk "$TRUNK" --token "$TOKEN" \
		--ca "$CA" --identity-key "$KEY" --calls "$2" --seconds "$3" --warmup "$4" \
		--transport "$1" --late-ms "$LATE_MS" --server-pid "$RIPPD_PID" --server-cpu -1 \
		2>"$SCRATCH/load-$1.log" | tail -n 1
	if [[ -n $KEEP && $2 -gt 1 ]]; then cp "$SCRATCH/load-$1.log" "$SCRATCH/load-$1-$2-$3-p${CUR_P:-x}.log"; fi
}

# HTTP/3: a short trial decides whether this build (client and server) has it
TRANSPORTS=(h2)
H3_NOTE=""
if trial=$(load h3 1 1 0) && jq -e '.ok == true and .acked > 0' >/dev/null 2>&1 <<<"$trial"; then
	TRANSPORTS=(h3 h2)
else
	H3_NOTE=$(grep -m1 -E 'client|error|failed' "$SCRATCH/load-h3.log" || echo "trial failed")
	say "HTTP/3 not available: $H3_NOTE"
fi

mkdir -p "$OUTDIR"
DATE=$(date -u +%Y-%m-%d)
BASE=$OUTDIR/$DATE
k=2
while [[ -e $BASE.md || -e $BASE.jsonl ]]; do
	BASE=$OUTDIR/$DATE-$k
	k=$((k + 1))
done
RAW=$BASE.jsonl
: >"$RAW"
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)

dropped() { echo $(($(netns_loss_dropped "$NS_A") + $(netns_loss_dropped "$NS_B"))); }

for p in $LOSSES; do
	CUR_P=$p
	netns_loss_both "$p" || die "nft failed"
	for t in "${TRANSPORTS[@]}"; do
		say "loss $p permille: RIPP over $t, $CALLS calls, window $SECS s"
		line=$(load "$t" "$CALLS" "$SECS" 2) || true
		if ! jq -e . >/dev/null 2>&1 <<<"${line:-x}"; then
			line=$(jq -n -c --arg e "ripp-load failed: $(tail -n 2 "$SCRATCH/load-$t.log")" '{ok:false, error:$e}')
		fi
		jq -c --arg sys "ripp-$t" --argjson p "$p" --argjson d "$(dropped)" \
			'{system:$sys, loss_permille:$p, nft_dropped_total:$d} + .' <<<"$line" >>"$RAW"
		jq -r '"loss-bench:   sent \(.sent) acked \(.acked) lost \(.lost_incl_tail) owd p50 \(.owd.p50_ms) p99 \(.owd.p99_ms) late \(.owd.late) ack RTT p99 \(.rtt_p99_ms)\(if .error then " error: " + .error else "" end)"' <<<"$(tail -n 1 "$RAW")" >&2
	done
	say "loss $p permille: plain UDP, $CALLS flows, $SECS s"
	ip netns exec "$NS_B" "$UDPBASE" recv --bind "$ADDR_B:5004" --seconds $((SECS + 10)) \
		--late-ms "$LATE_MS" >"$SCRATCH/recv.json" 2>"$SCRATCH/recv.log" &
	rpid=$!
	sleep 0.3
	snd=$(ip netns exec "$NS_A" "$UDPBASE" send --to "$ADDR_B:5004" --flows "$CALLS" \
		--seconds "$SECS")
	sleep 0.5
	kill -TERM "$rpid" 2>/dev/null || true
	wait "$rpid" || true
	rcv=$(tail -n 1 "$SCRATCH/recv.json")
	jq -n -c --argjson s "$snd" --argjson r "$rcv" --argjson p "$p" --argjson d "$(dropped)" \
		'{system:"udp", loss_permille:$p, nft_dropped_total:$d, ok:true, sent:$s.sent,
		  received:$r.received, lost:($s.sent - $r.received), owd:$r.owd}' >>"$RAW"
	jq -r '"loss-bench:   sent \(.sent) received \(.received) lost \(.lost) owd p50 \(.owd.p50_ms) p99 \(.owd.p99_ms) late \(.owd.late)"' <<<"$(tail -n 1 "$RAW")" >&2
done
netns_loss_both 0
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kill -TERM "$RIPPD_PID" 2>/dev/null || true
wait "$RIPPD_PID" 2>/dev/null || true
RIPPD_PID=""

# frames: RIPP counts the frames of the window (acked + never acked); UDP the packets sent
TABLE=$(jq -r -s --argjson late "$LATE_MS" --arg h3 "${H3_NOTE:-}" '
	def f(d): if . == null then "–" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
	def frames: if .system == "udp" then .sent else ((.owd.count // 0) + (.lost_incl_tail // 0)) end;
	def lost: if .system == "udp" then .lost else .lost_incl_tail end;
	(group_by(.loss_permille) | map({key: (.[0].loss_permille | tostring), value: .}) | from_entries) as $by |
	"| loss each way | system | frames | lost | one-way delay p50 / p99 ms | late for a \($late) ms buffer | lost + late | p99 ÷ UDP p99 | ack RTT p50 / p99 ms |",
	"|---:|---|---:|---:|---|---:|---:|---:|---|",
	(.[] | . as $c | ($by[(.loss_permille | tostring)] | map(select(.system == "udp")) | .[0].owd.p99_ms) as $u |
	 if .ok != true then
	   "| \(.loss_permille / 10) % | \(.system) | – | – | – | – | – | – | error: \(.error // "failed") |"
	 else
	   "| \(.loss_permille / 10) % | \(.system | sub("ripp-h2"; "RIPP/HTTP/2") | sub("ripp-h3"; "RIPP/HTTP/3") | sub("udp"; "UDP (RTP-like)")) | \(frames) | \(lost) | \(.owd.p50_ms | f(1)) / \(.owd.p99_ms | f(1)) | \(.owd.late) (\(if frames > 0 then (.owd.late / frames * 100 | f(2)) else "–" end) %) | \(if frames > 0 then ((lost + .owd.late) / frames * 100 | f(2)) else "–" end) % | \(if $u != null and $u > 0 then (.owd.p99_ms / $u | f(2)) else "–" end) | \(if .system == "udp" then "–" else "\(.rtt_p50_ms | f(1)) / \(.rtt_p99_ms | f(1))" end) |"
	 end),
	(if $h3 != "" then "| all | RIPP/HTTP/3 | not available in this build (\($h3)) | | | | | | |" else empty end)
' "$RAW")

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "# Loss benchmark, $DATE"
	echo
	echo "Frame one-way delay across a ${ONE_WAY_MS} ms + ${ONE_WAY_MS} ms path (network namespaces, ripp-delayline) with"
	echo "random packet loss in each direction (nftables), $CALLS calls / flows of G.711 20 ms frames,"
	echo "a $SECS s window per cell. Method: [bench/loss/README.md](../README.md). Raw lines:"
	echo "[$(basename "$BASE").jsonl]($(basename "$BASE").jsonl)."
	echo
	echo "$TABLE"
	echo
	echo "Target: RIPP/HTTP/3 one-way p99 within 1.2× of the UDP baseline at 2 % loss. \"Late\": one-way"
	echo "delay more than $LATE_MS ms above the lowest delay of that cell (the frame misses a $LATE_MS ms"
	echo "jitter buffer); percentages are of the cell's frames. RIPP frames are lost only when"
	echo "never acked (stalled byway, congestion queue); UDP packets when dropped."
	echo
	echo "## Machine and run"
	echo
	echo "- $(nproc) vCPUs, $CPU_MODEL; kernel $(uname -r); shared with other work (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
	echo "- path: $(jq -r '"UDP RTT min \(.rtt_min_ms) / avg \(.rtt_avg_ms) / max \(.rtt_max_ms) ms"' <<<"$RTT") before the runs"
	echo "- ripp $GIT; build $BUILD; $START – $END"
} >"$BASE.md"
echo
echo "$TABLE"
say "report: $BASE.md (raw: $RAW)"
