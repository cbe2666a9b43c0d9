#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [N...]
#
# The load benchmark: rippd (echo trunk, pinned to CPU 1) carrying N full-duplex G.711
# calls placed by ripp-load (pinned to CPU 0) over each transport of BENCH_TRANSPORTS
# (HTTP/3 and HTTP/2 by default), and, in the same run and for the same N, the rtpengine
# anchor (../shared/tools/rtp-relay-anchor/run.sh) relaying the same load.
# With no N given: 100 500 1000 2000, then, for each transport, a coarse search for the
# largest N that rippd carries with ack RTT p99 < 20 ms and nothing lost. Writes
# bench/reports/<date>.md (the table and the machine) and <date>.jsonl (every raw JSON
# line), and prints the table.
# See bench/README.md for the method and the knobs (BENCH_* environment variables).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SECONDS_WIN=${BENCH_SECONDS:-10}
PRIO=${BENCH_PRIO:-auto}              # rt | nice | none | auto (rt when root and chrt exist)
SEARCH=${BENCH_SEARCH:-auto}          # 1 | 0 | auto (only with the default N list)
SEARCH_STEPS=${BENCH_SEARCH_STEPS:-6}
SEARCH_STEP=${BENCH_SEARCH_STEP:-1000}
ANCHOR_ON=${BENCH_ANCHOR:-1}
REPEAT=${BENCH_REPEAT:-1}
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}    # seconds to wait for CPUs 0-1 to be quiet before a run
QUIET_MAX=${BENCH_QUIET_MAX:-25}      # % busy (either core) that counts as not quiet
PROFILE=${BENCH_PROFILE:-1}           # perf profile of rippd at the largest N of the list
OUTDIR=${BENCH_OUT:-$REPO/bench/reports}
NAME=${BENCH_NAME:-}                  # report base name; default <date>[-k]
read -r -a TRANSPORTS <<<"${BENCH_TRANSPORTS:-h3 h2}"
SERVER_CPU=1
GEN_CPU=0
P99_LIMIT_MS=20

say() { echo "bench: $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

[[ $# -ge 1 ]] || die "usage: bench/run.sh BUILD_DIR [N...]"
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
shift
RIPPD=$BUILD/apps/rippd
LOADGEN=$BUILD/apps/ripp-load
[[ -x $RIPPD && -x $LOADGEN ]] || die "$BUILD/apps has no rippd or ripp-load (build the tree first)"
if [[ $# -gt 0 ]]; then
	NS=("$@")
	[[ $SEARCH == auto ]] && SEARCH=0
else
	NS=(100 500 1000 2000)
	[[ $SEARCH == auto ]] && SEARCH=1
fi
for n in "${NS[@]}"; do
	[[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || die "N must be a positive integer, not '$n'"
done
[[ $SECONDS_WIN =~ ^[0-9]+$ && $SECONDS_WIN -ge 1 ]] || die "BENCH_SECONDS must be a whole number >= 1"
((${#TRANSPORTS[@]} >= 1)) || die "BENCH_TRANSPORTS is empty"
for t in "${TRANSPORTS[@]}"; do
	[[ $t == h2 || $t == h3 ]] || die "BENCH_TRANSPORTS: h2 and/or h3, not '$t'"
done
(($(nproc --all) >= 2)) || die "needs 2 CPUs (rippd on CPU $SERVER_CPU, generator on CPU $GEN_CPU)"

# ---- what the run needs ----
apt_install() {
	[[ $(id -u) -eq 0 ]] || {
		say "not root: cannot install $*"
		return 1
	}
	say "installing $* (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
command -v jq >/dev/null || apt_install jq || die "jq is needed"
command -v taskset >/dev/null || apt_install util-linux || die "taskset is needed"

ANCHOR=""
ANCHOR_DIR=$REPO/../shared/tools/rtp-relay-anchor
if [[ $ANCHOR_ON != 1 ]]; then
	say "anchor disabled (BENCH_ANCHOR=$ANCHOR_ON)"
elif [[ ! -x $ANCHOR_DIR/run.sh ]]; then
	say "SKIPPING the rtpengine anchor: $ANCHOR_DIR/run.sh does not exist"
else
	ANCHOR=$(cd "$ANCHOR_DIR" && pwd)/run.sh
	if ! command -v rtpengine >/dev/null || ! command -v gcc >/dev/null; then
		apt_install rtpengine-daemon gcc libc6-dev || true
	fi
	if ! command -v rtpengine >/dev/null; then
		say "SKIPPING the rtpengine anchor: rtpengine is not installed and could not be"
		ANCHOR=""
	fi
fi

case $PRIO in
auto) if [[ $(id -u) -eq 0 ]] && command -v chrt >/dev/null; then PRIO=rt; else PRIO=none; fi ;;
rt | nice | none) ;;
*) die "BENCH_PRIO must be rt, nice, none or auto" ;;
esac
PRIO_CMD=()
case $PRIO in
rt) PRIO_CMD=(chrt -f 10) ;;
nice) PRIO_CMD=(nice -n -15) ;;
esac
# Under SCHED_FIFO a spinning generator would be throttled by the kernel every second;
# the anchor's generator sleeps instead (it wakes promptly at that priority).
ANCHOR_ENV=()
[[ $PRIO == rt ]] && ANCHOR_ENV=(RRA_SPIN=0)

# ---- scratch, processes, cleanup ----
SCRATCH=$(mktemp -d /tmp/ripp-bench.XXXXXX)
RIPPD_PID=""
LOAD_PID=""
ANCHOR_PID=""
H3_NOTE=""
KEEP_DIR=${BENCH_KEEP_LOGS:-}         # a directory: keep the logs of every run that fails

is_running() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

stop_pid() { # PID NAME [SECONDS]: TERM, wait, then KILL
	local pid=$1 name=$2 limit=${3:-10} i
	[[ -n $pid ]] || return 0
	if is_running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < limit * 10; i++)); do
			is_running "$pid" || break
			sleep 0.1
		done
		if is_running "$pid"; then
			say "$name ($pid) did not stop within $limit s of SIGTERM; killing it"
			echo "$name did not stop within $limit s of SIGTERM" >>"$SCRATCH/incidents"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	stop_pid "$LOAD_PID" ripp-load 5
	stop_pid "$ANCHOR_PID" anchor 10
	stop_pid "$RIPPD_PID" rippd 5
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# UDP datagrams the kernel dropped because a socket's receive buffer was full, in this
# network namespace (every UDP socket: rippd's, ripp-load's, and anyone else's on loopback)
udp_rcvbuf_errors() { awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6; exit }' /proc/net/snmp; }
# drops counted on the UDP sockets bound to local port $1 (rippd's HTTP/3 socket)
udp_port_drops() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { d += $NF } END { print d + 0 }' /proc/net/udp /proc/net/udp6 2>/dev/null
}

core_jiffies() { # CPU -> "busy total"
	awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8; t = b + $5 + $6 + $9; print b, t }' /proc/stat
}

# Busy % of CPUs 0 and 1 over one second (what other work on the machine takes).
background_busy() {
	local a0 a1 b0 b1
	read -r -a a0 <<<"$(core_jiffies $GEN_CPU)"
	read -r -a a1 <<<"$(core_jiffies $SERVER_CPU)"
	sleep 1
	read -r -a b0 <<<"$(core_jiffies $GEN_CPU)"
	read -r -a b1 <<<"$(core_jiffies $SERVER_CPU)"
	awk -v b0=$((b0[0] - a0[0])) -v t0=$((b0[1] - a0[1])) -v b1=$((b1[0] - a1[0])) -v t1=$((b1[1] - a1[1])) \
		'BEGIN { printf "%.0f %.0f\n", t0 ? 100 * b0 / t0 : 0, t1 ? 100 * b1 / t1 : 0 }'
}

BG0=0
BG1=0
wait_quiet() {
	local waited=0
	while :; do
		read -r BG0 BG1 <<<"$(background_busy)"
		((BG0 <= QUIET_MAX && BG1 <= QUIET_MAX)) && return 0
		if ((waited >= QUIET_WAIT)); then
			say "CPUs not quiet (CPU0 ${BG0} %, CPU1 ${BG1} % busy with other work); running anyway"
			return 0
		fi
		((waited == 0)) && say "waiting up to ${QUIET_WAIT} s for CPUs 0-1 to be quiet (CPU0 ${BG0} %, CPU1 ${BG1} %)"
		sleep 4
		waited=$((waited + 5))
	done
}

# ---- one rippd + ripp-load run ----
# run_ripp N TRANSPORT [profile]: writes the JSON line (with the server's own view from its
# CDRs) to $SCRATCH/line.json. rippd serves HTTP/2 (TCP) and HTTP/3 (UDP) on the same port
# in every run; ripp-load speaks TRANSPORT.
run_ripp() {
	local n=$1 tr=$2 profile=${3:-} dir rc=0 line
	dir=$(mktemp -d "$SCRATCH/ripp-$n-$tr.XXXX")
	"${PRIO_CMD[@]}" taskset -c $SERVER_CPU "$RIPPD" --dev --answer echo --state-dir "$dir/state" \
		--log-level warn >"$dir/rippd.json" 2>"$dir/rippd.log" &
	RIPPD_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/rippd.json ]] && break
		is_running "$RIPPD_PID" || break
		sleep 0.1
	done
	if [[ ! -s $dir/rippd.json ]]; then
		tail -n 20 "$dir/rippd.log" >&2 || true
		stop_pid "$RIPPD_PID" rippd 5
		RIPPD_PID=""
		die "rippd did not start"
	fi
	local trunk token ca key
	trunk=$(jq -r .trunk "$dir/rippd.json")
	token=$(jq -r .token "$dir/rippd.json")
	ca=$(jq -r .ca "$dir/rippd.json")
	key=$(jq -r .identity_key "$dir/rippd.json")
	local port udp0 udp1 sdrops=0
	port=$(sed -E 's#^https://[^/]*:([0-9]+)/.*#\1#' <<<"$trunk")
	[[ $port =~ ^[0-9]+$ ]] || port=0
	udp0=$(udp_rcvbuf_errors)
	local ramp=$(((n + 499) / 500))
	# beyond ripp-load's own hard limit, which ends it with a message
	local limit=$((10 + ramp + 15 + 2 + SECONDS_WIN + 2 + 10 + 10 + 30 + 15))
	local prof_pid=""
	if [[ -n $profile ]] && command -v perf >/dev/null; then
		# sample rippd for 5 s in the middle of the window
		(
			sleep $((ramp + 4 + SECONDS_WIN / 2 - 2))
			perf record -g -o "$dir/perf.data" -p "$RIPPD_PID" -- sleep 5 >/dev/null 2>&1 || true
		) &
		prof_pid=$!
	fi
	timeout -k 5 $limit "${PRIO_CMD[@]}" taskset -c $GEN_CPU "$LOADGEN" --trunk "$trunk" \
		--token "$token" --ca "$ca" --identity-key "$key" --calls "$n" --seconds "$SECONDS_WIN" \
		--transport "$tr" --server-pid "$RIPPD_PID" --server-cpu $SERVER_CPU \
		>"$dir/load.json" 2>"$dir/load.log" &
	LOAD_PID=$!
	wait "$LOAD_PID" || rc=$?
	LOAD_PID=""
	if [[ -n $prof_pid ]]; then wait "$prof_pid" 2>/dev/null || true; fi
	udp1=$(udp_rcvbuf_errors)
	((port > 0)) && sdrops=$(udp_port_drops "$port")
	local alive=true
	is_running "$RIPPD_PID" || alive=false
	stop_pid "$RIPPD_PID" rippd 10
	RIPPD_PID=""
	local logerr logsum
	logerr=$(grep -cE ' (error|warn) ' "$dir/rippd.log" || true)
	# the kinds of message both sides logged, most frequent first
	logsum=$({
		grep -hE ' (error|warn) ' "$dir/rippd.log" | sed 's/^[^ ]* //' || true
		grep -hE '^ripp-load (error|warn) ' "$dir/load.log" || true
	} | sed -E 's#https?://[^ ]*#URL#g; s/[0-9a-f]{8}-[0-9a-f-]{27}/ID/g; s/[0-9]+/N/g' |
		sort | uniq -c | sort -rn | head -n 6 | sed -E 's/^ *//' |
		jq -R -s -c 'split("\n") | map(select(length > 0))')
	# the server's own view: its CDRs (whole calls, ramp and teardown included)
	local view='{}'
	if [[ -f $dir/state/rippd.db ]]; then
		view=$(timeout 60 "$RIPPD" --db "$dir/state/rippd.db" --cdrs 2>/dev/null | jq -s -c '
			def med: sort | if length == 0 then null else .[(length / 2 | floor)] end;
			{ cdrs: length,
			  outcomes: (group_by(.outcome) | map({key: .[0].outcome, value: length}) | from_entries),
			  sent: (map(.stats.sent) | add), acked: (map(.stats.acked) | add),
			  lost: (map(.stats.lost) | add), late: (map(.stats.late) | add),
			  rtt_p50_ms_median: (map(.stats.rtt_p50_ms) | med),
			  rtt_p99_ms_median: (map(.stats.rtt_p99_ms) | med),
			  rtt_p99_ms_max: (map(.stats.rtt_p99_ms) | max),
			  rx_frames: (map(.stats.rx_frames) | add), rx_late: (map(.stats.rx_late) | add),
			  rx_concealed: (map(.stats.rx_concealed) | add) }' 2>/dev/null) || view='{}'
		[[ -n $view ]] || view='{}'
	fi
	if [[ -n $profile && -f $dir/perf.data ]]; then
		# self time by function, and by library (callers are not reliable: the Debian
		# libraries have no frame pointers)
		perf report -i "$dir/perf.data" --stdio --no-children --sort dso,symbol -g none \
			2>/dev/null | grep -vE '^(#|$)' | head -60 >"$SCRATCH/profile-$tr-$n.txt" || true
		perf report -i "$dir/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
			grep -vE '^(#|$)' | head -15 >"$SCRATCH/profile-dso-$tr-$n.txt" || true
	fi
	line=$(tail -n 1 "$dir/load.json" 2>/dev/null || true)
	if [[ -z $line ]] || ! jq -e . >/dev/null 2>&1 <<<"$line"; then
		line=$(jq -n -c --argjson n "$n" --arg e "ripp-load exited $rc without a result" \
			'{tool: "ripp-load", ok: false, calls: $n, error: $e}')
		tail -n 20 "$dir/load.log" >&2 || true
	fi
	if [[ $alive == false ]]; then
		say "rippd died during the run at N=$n over $tr; its log:"
		tail -n 20 "$dir/rippd.log" >&2 || true
	fi
	# keep the logs of a run that did not pass, for a look afterwards
	if [[ -n ${KEEP_DIR:-} ]] && ! jq -e --argjson lim "$P99_LIMIT_MS" "$PASS_EXPR" >/dev/null 2>&1 <<<"$line"; then
		local keep="$KEEP_DIR/$tr-$n-$(date -u +%H%M%S)"
		mkdir -p "$keep" && cp "$dir/rippd.log" "$dir/load.log" "$dir/load.json" "$keep/" 2>/dev/null || true
	fi
	jq -c --argjson view "$view" --argjson logerr "${logerr:-0}" --argjson rc "$rc" \
		--argjson logsum "${logsum:-[]}" \
		--argjson alive "$alive" --argjson bg0 "$BG0" --argjson bg1 "$BG1" --arg prio "$PRIO" \
		--argjson profiled "$([[ -n $profile ]] && echo true || echo false)" --arg tr "$tr" \
		--argjson udpdrops "$((${udp1:-0} - ${udp0:-0}))" --argjson sdrops "${sdrops:-0}" \
		'. + {transport: $tr, udp_rcvbuf_errors_host: $udpdrops, udp_drops_rippd_socket: $sdrops, server_view: $view, rippd_log_warnings: $logerr, log_summary: $logsum, exit_status: $rc,
		      rippd_survived: $alive, background_busy_cpu0: $bg0, background_busy_cpu1: $bg1,
		      priority: $prio, profiled: $profiled}' <<<"$line" >"$SCRATCH/line.json"
	rm -rf "$dir"
}

# ---- one anchor run ----
run_anchor() {
	local n=$1 rc=0 line limit
	limit=$((SECONDS_WIN + 150 + n / 20))
	timeout -k 10 $limit env ${ANCHOR_ENV[@]+"${ANCHOR_ENV[@]}"} "${PRIO_CMD[@]}" "$ANCHOR" \
		"$n" "$SECONDS_WIN" >"$SCRATCH/anchor.json" 2>"$SCRATCH/anchor.log" &
	ANCHOR_PID=$!
	wait "$ANCHOR_PID" || rc=$?
	ANCHOR_PID=""
	line=$(tail -n 1 "$SCRATCH/anchor.json" 2>/dev/null || true)
	if [[ -z $line ]] || ! jq -e . >/dev/null 2>&1 <<<"$line"; then
		say "the anchor failed at N=$n (exit $rc):"
		tail -n 10 "$SCRATCH/anchor.log" >&2 || true
		line=$(jq -n -c --argjson n "$n" --arg e "anchor exited $rc without a result" \
			'{tool: "rtpengine-userspace", calls: $n, error: $e}')
	fi
	jq -c --argjson bg0 "$BG0" --argjson bg1 "$BG1" --arg prio "$PRIO" \
		'. + {background_busy_cpu0: $bg0, background_busy_cpu1: $bg1, priority: $prio}' \
		<<<"$line" >"$SCRATCH/line.json"
}

# The raw lines go to the report directory as they come, so that an interrupted run keeps them.
mkdir -p "$OUTDIR"
DATE=$(date -u +%Y-%m-%d)
if [[ -n $NAME ]]; then
	BASE=$OUTDIR/$NAME
	[[ -e $BASE.md || -e $BASE.jsonl ]] && die "$BASE.md or .jsonl exists already"
else
	BASE=$OUTDIR/$DATE
	k=2
	while [[ -e $BASE.md || -e $BASE.jsonl ]]; do
		BASE=$OUTDIR/$DATE-$k
		k=$((k + 1))
	done
fi
RAW=$BASE.jsonl
: >"$RAW"

# one run passes: every call set up and ended normally, p99 < 20 ms, nothing lost in either
# direction
PASS_EXPR='.ok == true and .setup_failed == 0 and .ended_abnormally == 0 and
	.rtt_p99_ms < $lim and .lost_incl_tail == 0 and .rx_late == 0 and .rx_concealed == 0'
# passes N TRANSPORT: most runs at N over TRANSPORT pass
passes() {
	jq -e -s --argjson n "$1" --arg tr "$2" --argjson lim "$P99_LIMIT_MS" "
		map(select(.tool == \"ripp-load\" and .calls == \$n and .transport == \$tr and (.profiled | not))) |
		length > 0 and (map(select($PASS_EXPR)) | length) * 2 > length" \
		"$RAW" >/dev/null
}

# measure N [TRANSPORT...]: REPEAT rounds of rippd over each transport (default: all of
# BENCH_TRANSPORTS) and the anchor; the anchor only runs for an N it has not run yet (the
# searches of two transports may visit the same N)
measure() {
	local n=$1 r line tr anchor_runs
	shift
	local trs=("$@")
	((${#trs[@]} > 0)) || trs=("${TRANSPORTS[@]}")
	anchor_runs=$(jq -s --argjson n "$n" 'map(select(.tool == "rtpengine-userspace" and .calls == $n)) | length' "$RAW")
	for ((r = 1; r <= REPEAT; r++)); do
		for tr in "${trs[@]}"; do
			wait_quiet
			say "N=$n: rippd + ripp-load over $tr (round $r/$REPEAT; CPU0 ${BG0} %, CPU1 ${BG1} % busy before; load $(cut -d' ' -f1-3 /proc/loadavg))"
			run_ripp "$n" "$tr"
			line=$(cat "$SCRATCH/line.json")
			echo "$line" >>"$RAW"
			jq -r '"bench:   rippd/\(.transport) \(.cpu_us_per_call_second // "-") us/call-s, \(.server_cpu_percent_of_core // "-") % core, RTT p99 \(.rtt_p99_ms // "-") ms, lost \(.lost_incl_tail // "-"), UDP rcvbuf drops \(.udp_rcvbuf_errors_host // "-"), rx late+concealed \(if .rx_late == null then "-" else .rx_late + .rx_concealed end), generator \(.generator_cpu_percent_of_core // "-") %\(if .error then ", error: " + .error else "" end)"' <<<"$line" >&2
		done
		if [[ -n $ANCHOR ]] && ((anchor_runs < r)); then
			wait_quiet
			say "N=$n: rtpengine anchor (round $r/$REPEAT)"
			run_anchor "$n"
			line=$(cat "$SCRATCH/line.json")
			echo "$line" >>"$RAW"
			jq -r '"bench:   rtpengine \(.cpu_us_per_call_second // "-") us/call-s, \(.relay_cpu_percent_of_core // "-") % core, delay p99 \(.delay_p99_ms // "-") ms, loss \(.loss_ratio // "-")\(if .error then ", error: " + .error else "" end)"' <<<"$line" >&2
		fi
	done
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
GIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$REPO" status --porcelain 2>/dev/null | grep -c . || true)
say "build $BUILD, window ${SECONDS_WIN} s, N: ${NS[*]}, transports: ${TRANSPORTS[*]}, search: $SEARCH, priority: $PRIO, anchor: ${ANCHOR:-none}"
# HTTP/3: a one-call trial decides whether this build (client and server) has it
if [[ " ${TRANSPORTS[*]} " == *" h3 "* ]]; then
	SECONDS_WIN=1 run_ripp 1 h3
	if ! jq -e '.ok == true and .acked > 0' "$SCRATCH/line.json" >/dev/null 2>&1; then
		H3_NOTE=$(jq -r '.error // "the trial call failed"' "$SCRATCH/line.json" 2>/dev/null || echo "the trial call failed")
		say "SKIPPING HTTP/3: $H3_NOTE"
		mapfile -t TRANSPORTS < <(printf '%s\n' "${TRANSPORTS[@]}" | grep -vx h3)
		((${#TRANSPORTS[@]} > 0)) || die "no transport left to measure"
	fi
fi
for n in "${NS[@]}"; do
	measure "$n"
done

# search TRANSPORT: the largest N that TRANSPORT passes, from the runs of the list
search() {
	local tr=$1 n best=0 worst=0 steps=0
	# the largest N of the list that passed, and the smallest that failed
	for n in $(printf '%s\n' "${NS[@]}" | sort -n); do
		if passes "$n" "$tr"; then
			((n > best)) && best=$n
		elif ((worst == 0 || n < worst)); then
			worst=$n
		fi
	done
	if ((worst == 0)); then
		# everything passed: go up in steps until it fails
		n=$best
		while ((steps < SEARCH_STEPS)); do
			n=$((n + SEARCH_STEP))
			measure "$n" "$tr"
			steps=$((steps + 1))
			if passes "$n" "$tr"; then best=$n; else
				worst=$n
				break
			fi
		done
	fi
	# narrow down between the best pass and the first failure (100-call resolution)
	while ((worst > 0 && worst - best > 100 && steps < SEARCH_STEPS)); do
		n=$(((best + worst) / 2 / 100 * 100))
		((n <= best)) && n=$((best + 100))
		((n >= worst)) && break
		measure "$n" "$tr"
		steps=$((steps + 1))
		if passes "$n" "$tr"; then best=$n; else worst=$n; fi
	done
	echo "{\"search\":true,\"transport\":\"$tr\",\"largest_passing\":$best,\"smallest_failing\":$worst}" >>"$RAW"
}
if [[ $SEARCH == 1 ]]; then
	for tr in "${TRANSPORTS[@]}"; do
		say "searching the largest N over $tr"
		search "$tr"
	done
fi

if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
	# for each transport, the heaviest load whose window could still be measured: what
	# rippd spends its core on as it reaches its limit
	for tr in "${TRANSPORTS[@]}"; do
		PN=$(jq -r -s --arg tr "$tr" 'map(select(.tool == "ripp-load" and .transport == $tr)) |
			(map(select(.ok == true)) | map(.calls) | max) // (map(.calls) | min) // empty' "$RAW")
		[[ -n $PN ]] || continue
		wait_quiet
		say "N=$PN over $tr: profiling rippd (perf record -g, 5 s of the window; not in the table)"
		run_ripp "$PN" "$tr" profile
		cat "$SCRATCH/line.json" >>"$RAW"
	done
fi
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- the report ----

TABLE=$(jq -r -s --argjson lim "$P99_LIMIT_MS" '
	def med: map(select(. != null)) | sort | if length == 0 then null else .[((length - 1) / 2 | floor)] end;
	def f(d): if . == null then "–" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
	def tname: if . == "h3" then "HTTP/3" elif . == "h2" then "HTTP/2" else (. // "HTTP/2") end;
	(map(select(.tool == "ripp-load" and (.profiled | not))) | group_by(.calls) |
	 map(group_by(.transport // "h2") | sort_by(.[0].transport // "h2") | reverse | .[])) as $r |
	(map(select(.tool == "rtpengine-userspace")) | group_by(.calls) |
	 map({key: (.[0].calls | tostring), value: .}) | from_entries) as $a |
	"| calls | transport | runs | rippd µs per call-s | rtpengine µs per call-s | rippd ÷ rtpengine | rippd % of core | rtpengine % of core | ripp ack RTT p50 / p99 ms | rtpengine delay p50 / p99 ms | ripp lost tx / rx | rtpengine loss | rippd RSS MiB | generator % of core (ripp / anchor) | CPU 1 steal % (ripp / anchor) | rippd: p99 < \($lim) ms, nothing lost |",
	"|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|---|---|---|",
	($r[] | . as $runs | ($runs[0].calls | tostring) as $n | ($a[$n] // []) as $an |
	 ($runs | map(.cpu_us_per_call_second) | med) as $rc |
	 ($an | map(.cpu_us_per_call_second) | med) as $ac |
	 "| \($n) | \($runs[0].transport | tname) | \($runs | length)\(if ($an | length) > 0 then " + \($an | length)" else "" end) | \($rc | f(0)) | \($ac | f(0)) | \(if $rc != null and $ac != null and $ac > 0 then ($rc / $ac | f(2)) else "–" end) | \($runs | map(.server_cpu_percent_of_core) | med | f(1)) | \($an | map(.relay_cpu_percent_of_core) | med | f(1)) | \($runs | map(.rtt_p50_ms) | med | f(2)) / \($runs | map(.rtt_p99_ms) | med | f(2)) | \($an | map(.delay_p50_ms) | med | f(2)) / \($an | map(.delay_p99_ms) | med | f(2)) | \($runs | map(.lost_incl_tail) | med | f(0)) / \($runs | map(if .rx_late == null then null else .rx_late + .rx_concealed end) | med | f(0)) | \($an | map(.loss_ratio) | med | f(6)) | \($runs | map(if .server_rss_kb then .server_rss_kb / 1024 else null end) | med | f(1)) | \($runs | map(.generator_cpu_percent_of_core) | med | f(0)) / \($an | map(.generator_busy_percent_of_core) | med | f(0)) | \($runs | map(.server_core_steal_percent) | med | f(1)) / \($an | map(.relay_core_steal_percent) | med | f(1)) | \($runs | map(if .ok != true then "no (" + (.error // "failed") + ")" elif .setup_failed == 0 and .ended_abnormally == 0 and .rtt_p99_ms < $lim and .lost_incl_tail == 0 and .rx_late == 0 and .rx_concealed == 0 then "yes" else "no" end) | join(", ")) |")
' "$RAW")
SEARCH_LINE=$(jq -r -s 'map(select(.search)) | .[] | "Largest N passing over \(if .transport == "h3" then "HTTP/3" elif .transport == "h2" then "HTTP/2" else "HTTP/2" end) (ack RTT p99 < 20 ms, nothing lost in either direction, every call set up and ended normally): **\(.largest_passing)**\(if .smallest_failing > 0 then "; smallest failing: \(.smallest_failing)" else " (no failure within the search steps)" end)."' "$RAW")
NOTES=$(jq -r -s '
	map(select(.tool == "ripp-load" and (.profiled | not))) | .[] |
	"- N=\(.calls) over \(.transport // "h2"): window \(.window_s // "–") s, connections open \(.connections_open // "–") of \(.connections // "–"), generator send lag p99 \(.send_lag_p99_ms // "–") ms (kept up: \(if .generator_kept_up == null then "–" else .generator_kept_up end)), CPU1 busy \(.server_core_busy_percent // "–") % (steal \(.server_core_steal_percent // "–") %), other work before the run CPU0 \(.background_busy_cpu0) % / CPU1 \(.background_busy_cpu1) %, engine warnings \(.engine_warnings // "–"), UDP datagrams dropped on a full receive buffer \(.udp_rcvbuf_errors_host // "–") (at rippd'"'"'s socket \(.udp_drops_rippd_socket // "–")), calls set up \(.calls_answered // "–") (failed \(.setup_failed // "–"), ended abnormally \(.ended_abnormally // "–")), server view (CDRs, whole calls): lost \(.server_view.lost // "–"), rx late \(.server_view.rx_late // "–"), rx concealed \(.server_view.rx_concealed // "–")\(if .error then "; **error: " + .error + "**" else "" end)\(if (.log_summary // []) | length > 0 then "\n  - logged (count, message): " + (.log_summary | map("`" + . + "`") | join("; ")) else "" end)"' "$RAW")

RTPE_VERSION=$(dpkg-query -W -f '${Version}' rtpengine-daemon 2>/dev/null || echo "not installed")
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

{
	echo "# Load benchmark, $DATE"
	echo
	echo "rippd (echo trunk, G.711 PCMU both ways) driven by ripp-load over $(printf '%s\n' "${TRANSPORTS[@]}" | sed 's/h3/HTTP\/3 (QUIC with TLS 1.3)/; s/h2/HTTP\/2 (TLS 1.3 over TCP)/' | paste -sd, - | sed 's/,/ and /g'),"
	echo "and the rtpengine anchor relaying the same G.711 load, in the same run. Method and caveats:"
	echo "[bench/README.md](../README.md). Raw JSON lines: [$(basename "$BASE").jsonl]($(basename "$BASE").jsonl)."
	echo
	echo "$TABLE"
	echo
	[[ -n $SEARCH_LINE ]] && echo "$SEARCH_LINE" && echo
	echo "Columns: CPU is the process's utime+stime over the ${SECONDS_WIN} s window (10 ms ticks);"
	echo "µs per call-s = CPU µs / (calls × window s). ripp ack RTT: send of a frame to its ack, as the"
	echo "client engine sees it (both engines' processing and two loopback hops; window only);"
	echo "rtpengine delay: one-way, kernel timestamps. ripp lost tx: frames of the window never acked"
	echo "(counted 1.5 s after it); rx: frames the client's jitter buffer got too late or never."
	echo "With several runs per N the cells are medians."
	echo
	echo "## Machine and run"
	echo
	echo "- $(nproc) CPUs ($(nproc --all) online), $CPU_MODEL, $MEM; kernel $(uname -r)"
	echo "- rippd and rtpengine on CPU $SERVER_CPU, generators on CPU $GEN_CPU; priority: $PRIO$([[ $PRIO == rt ]] && echo " (SCHED_FIFO 10 for rippd, ripp-load and the whole anchor run; anchor with RRA_SPIN=0)")"
	echo "- rtpengine-daemon $RTPE_VERSION; ripp $GIT$([[ ${DIRTY:-0} -gt 0 ]] && echo " + $DIRTY uncommitted files") at the start of the run; binaries built $(date -u -r "$RIPPD" +%Y-%m-%dT%H:%M:%SZ) (rippd) and $(date -u -r "$LOADGEN" +%Y-%m-%dT%H:%M:%SZ) (ripp-load)"
	echo "- window ${SECONDS_WIN} s, runs per N and transport: $REPEAT, $START – $END"
	[[ -n $H3_NOTE ]] && echo "- HTTP/3 was not measured: $H3_NOTE"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	[[ -s $SCRATCH/incidents ]] && sed 's/^/- incident: /' "$SCRATCH/incidents"
	echo
	echo "## Per run"
	echo
	echo "$NOTES"
	for f in "$SCRATCH"/profile-*.txt; do
		[[ -e $f ]] || continue
		echo
		echo "## $(basename "$f" .txt | sed -E 's/profile-dso-(h[23])-/Profile by library, \1, at N=/; s/profile-(h[23])-/Profile by function, \1, at N=/'): perf record -g -p rippd, 5 s of the window"
		echo
		echo '```'
		cat "$f"
		echo '```'
	done
} >"$BASE.md"

echo
echo "$TABLE"
echo
[[ -n $SEARCH_LINE ]] && echo "$SEARCH_LINE"
say "report: $BASE.md (raw: $BASE.jsonl)"
