#!/usr/bin/env bash
# Wire benchmark: IP bytes and packets per 20 ms G.711 frame (with its ack) for RIPP over
# HTTP/2 (and HTTP/3 when the build has it), next to RTP's 200 bytes. See README.md.
#   bench/wire/run.sh [BUILD_DIR]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$REPO/build}" && pwd)
export RIPP_BUILD=$BUILD
CALLS_LIST=${WIRE_CALLS:-1 10}
SECS=${WIRE_SECONDS:-20}
ONE_WAY_MS=${WIRE_DELAY_MS:-20}
OUTDIR=${WIRE_OUT:-$HERE/reports}
RIPPD=$BUILD/apps/rippd
LOADGEN=$BUILD/apps/ripp-load
RTP_BYTES=200 # IPv4 20 + UDP 8 + RTP 12 + 160 bytes of G.711

say() { echo "wire-bench: $*" >&2; }
die() {
	say "$*"
	exit 1
}
[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v jq >/dev/null || die "needs jq"
for f in "$RIPPD" "$LOADGEN"; do [[ -x $f ]] || die "missing $f (build it first)"; done

# shellcheck source=../../tests/integration/netns.sh
. "$REPO/tests/integration/netns.sh"
netns_usable || die "missing ripp-delayline/ripp-udpbase in $BUILD, nft, ip or /dev/net/tun"
SCRATCH=$(mktemp -d /tmp/ripp-wire-bench.XXXXXX)
RIPPD_PID=""
bench_cleanup() {
	if [[ -n $RIPPD_PID ]]; then kill -KILL "$RIPPD_PID" 2>/dev/null || true; fi
	rm -rf "$SCRATCH"
}
NETNS_ON_EXIT=bench_cleanup
netns_setup || die "cannot set up the namespaces"
netns_delay "$ONE_WAY_MS" || die "cannot start the delay line"

ip netns exec "$NS_B" "$RIPPD" --dev --listen "$ADDR_B" --state-dir "$SCRATCH/srv" --answer echo \
	--log-level warn >"$SCRATCH/srv.json" 2>"$SCRATCH/srv.log" &
RIPPD_PID=$!
for _ in $(seq 150); do [[ -s $SCRATCH/srv.json ]] && break; sleep 0.1; done
[[ -s $SCRATCH/srv.json ]] || die "rippd did not start: $(tail -n 5 "$SCRATCH/srv.log")"
TRUNK=$(jq -r .trunk "$SCRATCH/srv.json")
TOKEN=$(jq -r .token "$SCRATCH/srv.json")
CA=$(jq -r .ca "$SCRATCH/srv.json")
KEY=$(jq -r .identity_key "$SCRATCH/srv.json")

veth() { # the veth of A: tx = A->B, rx = B->A (Ethernet frames; GSO packets count once)
	local d=/sys/class/net/a0/statistics
	ip netns exec "$NS_A" sh -c "echo {\\\"tx_bytes\\\":\$(cat $d/tx_bytes),\\\"tx_packets\\\":\$(cat $d/tx_packets),\\\"rx_bytes\\\":\$(cat $d/rx_bytes),\\\"rx_packets\\\":\$(cat $d/rx_packets)}"
}

# one run: counters sampled when ripp-load's window starts and ends
run() { # TRANSPORT CALLS -> JSON line on stdout
	local t=$1 n=$2 log=$SCRATCH/load-$1-$2.log c0="" c1="" v0="" v1=""
	ip netns exec "$NS_A" timeout -k 5 $((SECS + 90)) "$LOADGEN" --trunk "$TRUNK" --token "$TOKEN" \
		--ca "$CA" --identity-key "$KEY" --calls "$n" --seconds "$SECS" --warmup 2 \
		--transport "$t" --server-cpu -1 >"$SCRATCH/load.json" 2>"$log" &
	local lp=$!
	while kill -0 "$lp" 2>/dev/null; do
		if [[ -z $c0 ]] && grep -q 'window of .* starts' "$log" 2>/dev/null; then
			c0=$(netns_delay_counters) v0=$(veth)
		elif [[ -n $c0 && -z $c1 ]] && grep -q 'window ends' "$log" 2>/dev/null; then
			c1=$(netns_delay_counters) v1=$(veth)
		fi
		sleep 0.01
	done
	wait "$lp" || true
	local line
	line=$(tail -n 1 "$SCRATCH/load.json" 2>/dev/null || true)
	if [[ -z $c1 ]] || ! jq -e '.ok == true' >/dev/null 2>&1 <<<"${line:-x}"; then
		jq -n -c --arg t "$t" --argjson n "$n" --arg e "$(grep -m1 -E 'error|client|failed' "$log" || tail -n 1 "$log")" \
			'{transport:$t, calls:$n, ok:false, error:$e}'
		return 0
	fi
	jq -n -c --arg t "$t" --argjson n "$n" --argjson l "$line" --argjson c0 "$c0" --argjson c1 "$c1" \
		--argjson v0 "$v0" --argjson v1 "$v1" '
		def d(dir; f): ($c1[dir].tcp[f] + $c1[dir].udp[f]) - ($c0[dir].tcp[f] + $c0[dir].udp[f]);
		{transport:$t, calls:$n, ok:true, window_s:$l.window_s,
		 frames_a_to_b:$l.sent, frames_b_to_a:$l.rx_frames, acked:$l.acked, lost:$l.lost,
		 bytes_a_to_b:d("to_b"; "bytes"), packets_a_to_b:d("to_b"; "packets"),
		 bytes_b_to_a:d("to_a"; "bytes"), packets_b_to_a:d("to_a"; "packets"),
		 veth:{tx_bytes:($v1.tx_bytes - $v0.tx_bytes), tx_packets:($v1.tx_packets - $v0.tx_packets),
		       rx_bytes:($v1.rx_bytes - $v0.rx_bytes), rx_packets:($v1.rx_packets - $v0.rx_packets)}}'
}

TRANSPORTS=(h2)
H3_NOTE=""
trial=$(run h3 1 2>/dev/null) || true
if jq -e '.ok == true' >/dev/null 2>&1 <<<"${trial:-x}"; then
	TRANSPORTS=(h3 h2)
else
	H3_NOTE=$(jq -r '.error // "trial failed"' <<<"${trial:-{\}}" 2>/dev/null || echo "trial failed")
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
for t in "${TRANSPORTS[@]}"; do
	for n in $CALLS_LIST; do
		say "RIPP over $t, $n call(s), window $SECS s"
		run "$t" "$n" >>"$RAW"
		jq -r '"wire-bench:   \(if .ok then "A->B \(.bytes_a_to_b) B in \(.packets_a_to_b) packets for \(.frames_a_to_b) frames; B->A \(.bytes_b_to_a) B in \(.packets_b_to_a) packets for \(.frames_b_to_a) frames" else "error: \(.error)" end)"' <<<"$(tail -n 1 "$RAW")" >&2
	done
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kill -TERM "$RIPPD_PID" 2>/dev/null || true
wait "$RIPPD_PID" 2>/dev/null || true
RIPPD_PID=""

TABLE=$(jq -r -s --argjson rtp "$RTP_BYTES" --arg h3 "$H3_NOTE" '
	def f(d): if . == null then "–" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
	"| system | calls | frames A→B / B→A | bytes per frame A→B | bytes per frame B→A | bytes per frame + ack (both ways) | ÷ RTP | packets per frame A→B / B→A |",
	"|---|---:|---|---:|---:|---:|---:|---|",
	"| RTP (G.711 20 ms, IPv4) | – | – | \($rtp) | \($rtp) | \($rtp) | 1.00 | 1 / 1 |",
	(.[] | if .ok != true then "| RIPP/\(.transport | ascii_upcase | sub("H"; "HTTP/")) | \(.calls) | error: \(.error) | | | | | |" else
	 ((.bytes_a_to_b + .bytes_b_to_a) / (.frames_a_to_b + .frames_b_to_a)) as $both |
	 "| RIPP/\(.transport | ascii_upcase | sub("H"; "HTTP/")) | \(.calls) | \(.frames_a_to_b) / \(.frames_b_to_a) | \(.bytes_a_to_b / .frames_a_to_b | f(1)) | \(.bytes_b_to_a / .frames_b_to_a | f(1)) | \($both | f(1)) | \($both / $rtp | f(2)) | \(.packets_a_to_b / .frames_a_to_b | f(2)) / \(.packets_b_to_a / .frames_b_to_a | f(2)) |" end),
	(if $h3 != "" then "| RIPP/HTTP/3 | – | not available in this build (\($h3)) | | | | | |" else empty end)
' "$RAW")

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "# Wire benchmark, $DATE"
	echo
	echo "IP bytes and packets on the wire per 20 ms G.711 frame, RIPP (echo trunk: G.711 both ways,"
	echo "every frame acked) against RTP. Counted by ripp-delayline, which sees every IP packet"
	echo "between the two namespaces (after segmentation), over ripp-load's ${SECS} s window, path"
	echo "${ONE_WAY_MS} ms each way, no loss. Method: [bench/wire/README.md](../README.md). Raw lines:"
	echo "[$(basename "$BASE").jsonl]($(basename "$BASE").jsonl)."
	echo
	echo "$TABLE"
	echo
	echo "A→B carries the caller's frames, the acks of the frames B sends and the transport's own"
	echo "acknowledgements; B→A the reverse. Bytes per frame of one direction = that direction's"
	echo "bytes ÷ frames sent in that direction, so each figure holds one frame and one ack."
	echo
	echo "## Machine and run"
	echo
	echo "- $(nproc) vCPUs, $CPU_MODEL; kernel $(uname -r)"
	echo "- ripp $GIT; build $BUILD; $START – $END"
} >"$BASE.md"
echo
echo "$TABLE"
say "report: $BASE.md (raw: $RAW)"
