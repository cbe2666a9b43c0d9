#!/usr/bin/env bash
# bench/chaos/run.sh BUILD_DIR
#
# The chaos benchmark: Redis and three rippd instances behind HAProxy (deploy/haproxy.cfg,
# deploy/slot.sh, cookie style) on loopback, N live calls placed by ripp-load through the
# balancer, and a fault in the middle of the measurement window:
#
#   baseline  nothing happens (the reference, and the search for the load that fits)
#   drain     `ripp admin drain --migrate-to` the next slot's balancer route, on s1
#   kill      SIGKILL to s1
#   rolling   deploy/rolling-upgrade.sh with a copy of the binary (every instance replaced)
#
# Per scenario: the media gap per call (p50, p99, max; ripp-load "media_gap"), calls lost,
# frames lost, calls moved, the time to drain (or to upgrade), next to the targets. Writes
# bench/chaos/reports/<date>.md (and <date>.jsonl, every raw ripp-load line), prints the
# table. Builds nothing: BUILD_DIR/apps must hold rippd, ripp and ripp-load (build with
# -DCMAKE_BUILD_TYPE=RelWithDebInfo). See bench/README.md ("Chaos") for the knobs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DEPLOY=${RIPP_DEPLOY:-$REPO/deploy}
CALLS=${CHAOS_CALLS:-1000}
SCENARIOS=${CHAOS_SCENARIOS:-"drain kill rolling"}
WINDOW=${CHAOS_WINDOW:-16}         # ripp-load's measurement window (s)
FAULT_AT=${CHAOS_FAULT_AT:-3}      # the fault, this long into the window (s)
SEARCH=${CHAOS_SEARCH:-"700 500 300 200 150 100 50"} # tried, largest first, when N is not clean
CLEAN_GAP_MS=${CHAOS_CLEAN_GAP_MS:-100}          # baseline: media gap p99 at most this
OUTDIR=${CHAOS_OUT:-$REPO/bench/chaos/reports}
NAME=${CHAOS_NAME:-$(date -u +%Y-%m-%dT%H%M)}
DRAIN_SPREAD=${CHAOS_DRAIN_SPREAD_MS:-} # rippd "drain_spread_ms" (migrates spread over it); unset: 1000
QUIET_WAIT=${CHAOS_QUIET_WAIT:-90}  # before each run, wait (bounded) for a quiet machine (s)
QUIET_MAX=${CHAOS_QUIET_MAX:-30}    # % of all CPUs busy that counts as quiet
REDIS_SERVER=${REDIS_SERVER:-redis-server}
HAPROXY=${HAPROXY:-haproxy}

say() { echo "chaos: $*" >&2; }
die() {
	echo "chaos: error: $*" >&2
	exit 1
}

[[ $# -eq 1 ]] || die "usage: bench/chaos/run.sh BUILD_DIR"
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
RIPPD=$BUILD/apps/rippd
RIPP=$BUILD/apps/ripp
LOADGEN=$BUILD/apps/ripp-load
for b in "$RIPPD" "$RIPP" "$LOADGEN"; do [[ -x $b ]] || die "$b is missing (build the tree first)"; done
for t in "$REDIS_SERVER" redis-cli "$HAPROXY" socat openssl curl jq node; do
	command -v "$t" >/dev/null || die "$t is needed"
done
[[ $CALLS =~ ^[0-9]+$ && $CALLS -ge 1 ]] || die "CHAOS_CALLS: a positive integer"
for s in $SCENARIOS; do
	case $s in baseline | drain | kill | rolling) ;; *) die "CHAOS_SCENARIOS: baseline drain kill rolling, not $s" ;; esac
done
mkdir -p "$OUTDIR"
REPORT=$OUTDIR/$NAME.md
RAW=$OUTDIR/$NAME.jsonl
[[ ! -e $REPORT ]] || die "$REPORT exists (set CHAOS_NAME)"

W=$(mktemp -d /tmp/ripp-chaos.XXXXXX)
PIDS=()
cleanup() {
	for f in "$W"/*/run/*.pid; do [[ -f $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [[ ${CHAOS_KEEP:-0} = 1 ]]; then say "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() {
	node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
now_ms() { date +%s%3N; }
# wait_for SECONDS CMD...: until CMD succeeds (every 50 ms); 1 on timeout
wait_for() {
	local n=$(($1 * 20))
	shift
	while ((n > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		n=$((n - 1))
		sleep 0.05
	done
	return 1
}

# ---- one certificate (localhost, 127.0.0.1) for the balancer and the instances ----
mkdir -p "$W/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$W/pki/key.pem" -out "$W/pki/cert.pem" -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
cat "$W/pki/cert.pem" "$W/pki/key.pem" >"$W/pki/lb.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/pki/id.pem" >/dev/null 2>&1
openssl pkey -in "$W/pki/id.pem" -pubout -out "$W/pki/id.pub.pem" 2>/dev/null
CA=$W/pki/cert.pem
TOKEN=$(openssl rand -hex 24)
ADM=adm-chaos-$(openssl rand -hex 8)

# ---- a cluster: Redis, HAProxy, s1 s2 s3 (deploy/slot.sh) ----
# cluster_up DIR: sets LB_PORT, LB_PORT_S1..4, exports RIPP_CLUSTER_ENV, RIPP_LB_ADMIN
cluster_up() {
	local d=$1
	mkdir -p "$d/redis" "$d/run"
	"$REDIS_SERVER" --port 0 --unixsocket "$d/redis/redis.sock" --unixsocketperm 700 --save '' \
		--appendonly no --dir "$d/redis" --daemonize no >"$d/redis.log" 2>&1 &
	PIDS+=($!)
	wait_for 10 sh -c "[ \"\$(redis-cli -s '$d/redis/redis.sock' PING)\" = PONG ]" || die "redis-server did not start"
	LB_PORT=$(port) LB_PORT_S1=$(port) LB_PORT_S2=$(port) LB_PORT_S3=$(port) LB_PORT_S4=$(port)
	export RIPP_LB_ADDR=127.0.0.1 RIPP_LB_PORT=$LB_PORT RIPP_LB_PORT_S1=$LB_PORT_S1 \
		RIPP_LB_PORT_S2=$LB_PORT_S2 RIPP_LB_PORT_S3=$LB_PORT_S3 RIPP_LB_PORT_S4=$LB_PORT_S4 \
		RIPP_LB_CERT=$W/pki/lb.pem RIPP_BACKEND_CA=$CA RIPP_LB_ADMIN=$d/haproxy.sock \
		RIPP_READYZ_CHECK=$d/readyz-check.sh
	printf '#!/bin/sh\nRIPP_BACKEND_CA=%s exec %s "$@"\n' "$CA" "$DEPLOY/readyz-check.sh" >"$RIPP_READYZ_CHECK"
	chmod +x "$RIPP_READYZ_CHECK"
	"$HAPROXY" -db -f "$DEPLOY/haproxy.cfg" >"$d/haproxy.log" 2>&1 &
	PIDS+=($!)
	wait_for 10 test -S "$RIPP_LB_ADMIN" || die "haproxy did not start"
	DRAIN_LINE=
	[[ -z $DRAIN_SPREAD ]] || DRAIN_LINE=$'\n  "drain_spread_ms": '"$DRAIN_SPREAD,"
	cat >"$d/rippd.json" <<JSON
{
  "admin_token": "$ADM",
  "cert": "$W/pki/cert.pem",
  "key": "$W/pki/key.pem",
  "log_level": "info",$DRAIN_LINE
  "trunks": [
    {"id": "chaos", "tokens": ["$TOKEN"], "answer": "echo", "identity_key": "$W/pki/id.pub.pem"}
  ]
}
JSON
	cat >"$d/cluster.env" <<ENV
RIPPD_BIN=$RIPPD
RIPPD_ARGS="--config $d/rippd.json --listen 127.0.0.1 --no-h3 --db unix:$d/redis/redis.sock"
RIPP_RUN_DIR=$d/run
RIPP_STYLE=cookie
RIPP_PUBLIC_HOST=localhost
RIPP_PORT_S1=$(port) RIPP_PORT_S2=$(port) RIPP_PORT_S3=$(port) RIPP_PORT_S4=$(port)
RIPP_LB_PORT_S1=$LB_PORT_S1 RIPP_LB_PORT_S2=$LB_PORT_S2 RIPP_LB_PORT_S3=$LB_PORT_S3 RIPP_LB_PORT_S4=$LB_PORT_S4
RIPP_LB_ADMIN=$RIPP_LB_ADMIN
RIPP_BACKEND_CA=$CA
RIPP_READY_TIMEOUT=30
RIPP_DRAIN_TIMEOUT=60
RIPP_ADMIN_TOKEN=$ADM
RIPP_CLI=$RIPP
ENV
	export RIPP_CLUSTER_ENV=$d/cluster.env
	for s in s1 s2 s3; do
		"$DEPLOY/slot.sh" start "$s" "$RIPPD" 2>>"$d/slots.log" || die "slot $s did not start ($d/slots.log)"
	done
}

cluster_down() {
	local d=$1
	for f in "$d"/run/*.pid; do [[ -f $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null || true; done
	sleep 0.5
	for f in "$d"/run/*.pid; do [[ -f $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	PIDS=()
	sleep 0.2
}

# busy_pct: how busy all CPUs were over the last second (%)
busy_pct() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); t = 0; i = 0
	  for (k = 2; k <= 9; k++) { d = y[k] - x[k]; t += d; if (k == 5 || k == 6) i += d }
	  printf "%d", t ? (t - i) * 100 / t : 0 }'
}

# quiet: waits (at most QUIET_WAIT s) until the machine is less busy than QUIET_MAX %;
# sets BUSY to the last figure
quiet() {
	local end=$((SECONDS + QUIET_WAIT))
	BUSY=$(busy_pct)
	while ((BUSY > QUIET_MAX && SECONDS < end)); do
		BUSY=$(busy_pct)
	done
	((BUSY <= QUIET_MAX)) || say "the machine is still $BUSY % busy (others' work): measuring anyway"
}

slot_port() { sed -n "s/.*RIPP_PORT_$(echo "$1" | tr a-z A-Z)=\([0-9]*\).*/\1/p" "$RIPP_CLUSTER_ENV"; }

# ---- one run: a cluster, N calls, the fault ----
# run_scenario SCENARIO N: sets RESULT to the run's JSON line (ripp-load's, with the
# scenario's own figures added) and appends it to $RAW
run_scenario() {
	local scen=$1 n=$2 d
	d=$W/$scen-$n
	mkdir -p "$d"
	quiet
	say "$scen, $n calls: cluster up (machine $BUSY % busy before)"
	cluster_up "$d"
	local ramp connections
	ramp=$(((n + 199) / 200)) # 200 call setups a second through the balancer
	# HAProxy takes 1000 streams per connection (tune.h2.max-concurrent-streams), a call
	# holds about 13: 50 calls per connection
	connections=$(((n + 49) / 50))
	"$LOADGEN" --trunk "https://localhost:$LB_PORT/trunks/chaos" --token "$TOKEN" --ca "$CA" \
		--identity-key "$W/pki/id.pem" --calls "$n" --seconds "$WINDOW" --ramp "$ramp" --warmup 2 \
		--connections "$connections" --server-cpu -1 --setup-timeout 20 \
		--per-call "$d/per-call.jsonl" >"$d/load.json" 2>"$d/load.err" &
	local lpid=$!
	PIDS+=("$lpid")
	local limit=$((ramp + 40))
	wait_for "$limit" sh -c "grep -q 'window of' '$d/load.err' || ! kill -0 $lpid" || true
	grep -q 'window of' "$d/load.err" || {
		kill -INT "$lpid" 2>/dev/null || true
		wait "$lpid" || true
		say "$scen, $n: the window did not start: $(tail -n 3 "$d/load.err" | tr '\n' ' ')"
	}
	local fault="none" t0=0 t1=0 on_s1 moved_to=""
	on_s1=$(grep -c 'created on trunk' "$d/run/s1.log" || true)
	if kill -0 "$lpid" 2>/dev/null; then
		sleep "$FAULT_AT"
		case $scen in
		drain)
			local pid
			pid=$(cat "$d/run/s1.pid")
			"$DEPLOY/lbctl.sh" drain s1
			t0=$(now_ms)
			"$RIPP" admin drain --url "https://127.0.0.1:$(slot_port s1)" --token "$ADM" \
				--migrate-to "localhost:$LB_PORT_S2" --ca "$CA" >"$d/drain.json" 2>"$d/drain.err" ||
				say "drain: $(cat "$d/drain.err")"
			local k=0
			# gone, or a zombie nobody has reaped yet (its parent, slot.sh, has exited)
			while kill -0 "$pid" 2>/dev/null && [[ $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) != Z ]] &&
				((k < 3000)); do
				sleep 0.01
				k=$((k + 1))
			done
			t1=$(now_ms)
			fault="ripp admin drain s1 --migrate-to s2's route; $(jq -r .calls "$d/drain.json" 2>/dev/null) calls sent migrate"
			moved_to=s2
			;;
		kill)
			t0=$(now_ms)
			kill -KILL "$(cat "$d/run/s1.pid")"
			fault="kill -9 s1"
			;;
		rolling)
			cp "$RIPPD" "$d/rippd-new"
			t0=$(now_ms)
			"$DEPLOY/rolling-upgrade.sh" "$d/rippd-new" 2>>"$d/rolling.log" || say "rolling-upgrade.sh failed: $(tail -n 3 "$d/rolling.log" | tr '\n' ' ')"
			t1=$(now_ms)
			fault="deploy/rolling-upgrade.sh: $("$DEPLOY/slot.sh" list | tr '\n' ' ')"
			;;
		esac
	fi
	wait "$lpid" || true
	local takeovers
	takeovers=$(cat "$d"/run/*.log | grep -c 'taken over from the store' || true)
	local line
	line=$(tail -n 1 "$d/load.json" 2>/dev/null || true)
	[[ -n $line ]] || line='{"ok":false,"error":"no output"}'
	local drain_ms=null
	((t1 > 0)) && drain_ms=$((t1 - t0))
	line=$(jq -c --arg scen "$scen" --arg fault "$fault" --argjson on_s1 "${on_s1:-0}" \
		--argjson takeovers "${takeovers:-0}" --argjson drain_ms "$drain_ms" --argjson busy "$BUSY" \
		'. + {scenario: $scen, fault: $fault, calls_on_s1: $on_s1, takeovers: $takeovers, fault_ms: $drain_ms, busy_before_percent: $busy}' <<<"$line")
	echo "$line" >>"$RAW"
	[[ ${CHAOS_KEEP:-0} = 1 ]] || rm -f "$d/per-call.jsonl"
	cluster_down "$d"
	RESULT=$line
}

# clean: every call up, none lost, no frame lost, media gap p99 within CHAOS_CLEAN_GAP_MS
clean() {
	jq -e --argjson g "$CLEAN_GAP_MS" '.ok == true and .setup_failed == 0 and .ended_abnormally == 0
	  and .lost_incl_tail == 0 and .media_gap.p99_ms <= $g' <<<"$1" >/dev/null
}

summary() {
	jq -r '"\(.scenario) N=\(.calls): answered \(.calls_answered), lost calls \(.ended_abnormally), frames lost \(.lost_incl_tail), media gap p50/p99/max \(.media_gap.p50_ms)/\(.media_gap.p99_ms)/\(.media_gap.max_ms) ms, moved \(.failover.calls_moved), fault \(.fault_ms) ms"' <<<"$1" >&2
}

# ---- the machine ----
CPU_MODEL=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
NPROC=$(nproc)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ENGINE_AT=$(date -u -r "$RIPPD" +%Y-%m-%dT%H:%MZ)
START=$(date -u +%Y-%m-%dT%H:%MZ)
say "$NPROC CPUs ($CPU_MODEL), load $LOAD0; rippd built $ENGINE_AT"

# ---- the baseline at N, then smaller N until it is clean ----
N=$CALLS
run_scenario baseline "$N"
BASE=$RESULT
BASES=("$BASE")
summary "$BASE"
FIT_NOTE=""
if ! clean "$BASE"; then
	FIT_NOTE="The no-fault baseline was not clean at $CALLS calls"
	fit=""
	for m in $SEARCH; do
		((m < CALLS)) || continue
		run_scenario baseline "$m"
		b=$RESULT
		BASES+=("$b")
		summary "$b"
		if clean "$b"; then
			fit=$m
			BASE=$b
			break
		fi
	done
	if [[ -n $fit ]]; then
		FIT_NOTE="$FIT_NOTE; the largest clean N tried was $fit: the scenarios ran at $CALLS and at $fit."
	else
		FIT_NOTE="$FIT_NOTE, nor at any N of ($SEARCH)."
	fi
fi
NS=("$CALLS")
[[ -n ${fit:-} ]] && NS+=("$fit")

declare -a LINES=("$BASE")
for n in "${NS[@]}"; do
	for s in $SCENARIOS; do
		[[ $s = baseline ]] && continue
		run_scenario "$s" "$n"
		l=$RESULT
		summary "$l"
		LINES+=("$l")
	done
done

# ---- the report ----
{
	echo "# Chaos benchmark, $START"
	echo
	echo "Machine: $NPROC vCPU ($(nproc --all) online), $CPU_MODEL; load average at the start $LOAD0;"
	echo "shared with other work. Engine: rippd and ripp-load from \`$BUILD\` (RelWithDebInfo),"
	echo "rippd built $ENGINE_AT. Redis $("$REDIS_SERVER" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'),"
	echo "$("$HAPROXY" -v | head -n 1 | cut -d' ' -f1-3); three rippd instances (slots s1 s2 s3,"
	echo "cookie style, deploy/haproxy.cfg unchanged), all on loopback, one machine."
	echo
	echo "Command: \`CHAOS_CALLS=$CALLS CHAOS_SCENARIOS=\"$SCENARIOS\" bench/chaos/run.sh $1\`;"
	echo "window $WINDOW s, fault $FAULT_AT s into it; ripp-load over HTTP/2 through HAProxy."
	[[ -z $FIT_NOTE ]] || {
		echo
		echo "$FIT_NOTE (clean: every call up, none lost, no frame lost, media gap p99 <= $CLEAN_GAP_MS ms)"
	}
	echo
	echo "| scenario | N | on s1 | calls lost | setup failed | frames lost | media gap p50 / p99 / max (ms) | gaps > 40 ms | calls moved | reconnect p50 / max (ms) | time to drain / upgrade | takeovers | busy before | target |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for l in "${BASES[@]}" "${LINES[@]:1}"; do
		jq -r '"| \(.scenario) | \(.calls) | \(.calls_on_s1) | \(.ended_abnormally) | \(.setup_failed) | \(.lost_incl_tail // "–") | \(.media_gap.p50_ms // "–") / \(.media_gap.p99_ms // "–") / \(.media_gap.max_ms // "–") | \(.media_gap.over_40ms // "–") | \(.failover.calls_moved // "–") | \(.failover.reconnect_p50_ms // "–") / \(.failover.reconnect_max_ms // "–") | \(if .fault_ms == null then "–" else "\(.fault_ms) ms" end) | \(.takeovers) | \(.busy_before_percent) % | \(
		  def met(c): if c then "met" else "missed" end;
		  if .scenario == "drain" then met(.fault_ms != null and .fault_ms <= 2000 and .media_gap.max_ms != null and .media_gap.max_ms <= 40 and .lost_incl_tail == 0 and .ended_abnormally == 0)
		  elif .scenario == "kill" then met(.media_gap.p99_ms != null and .media_gap.p99_ms <= 300 and .ended_abnormally == 0)
		  elif .scenario == "rolling" then met(.ended_abnormally == 0 and .setup_failed == 0 and .lost_incl_tail != null)
		  else "–" end) |"' <<<"$l"
	done
	echo
	echo "Targets:"
	echo
	echo "| scenario | target (the table's last column) |"
	echo "|---|---|"
	echo "| drain | 1,000 calls drained in <= 2 s, no media gap over 40 ms, zero frames lost |"
	echo "| kill | media gap p99 <= 300 ms, zero calls lost |"
	echo "| rolling | zero calls lost |"
	echo "| (seed, cloud-SIP HA) | a call recovers within 2 s of an instance failure |"
	echo
	echo "The -03 defaults (SPEC §7.1) for comparison: the server keeps a call 1 s without a"
	echo "signaling byway; failure on no media for 1 s or no ack for 1 s; one reconnect attempt"
	echo "only; migration finished within 1 s; buffers >= 5 s. This project (SPEC P2, P3): hold"
	echo "5 s, no ack 300 ms, no media 1 s, reconnect at once then jittered back-off 50 ms x2"
	echo "up to 1 s until the hold window is spent."
	echo
	echo "Definitions: *media gap* of a call = the longest interval, over the window and its"
	echo "1.5 s tail, in which no media frame arrived from the server or no ack arrived for the"
	echo "call's own frames (ripp-load \`media_gap\`, calls not lost); *calls lost* = answered"
	echo "calls that ended otherwise than by the caller; *frames lost* = frames of the window"
	echo "never acknowledged, up to the end of the tail (\`lost_incl_tail\`); *calls moved* ="
	echo "calls whose client followed a migrate or recovered from a failure; *reconnect* = the"
	echo "client's failure (or migrate) to signaling re-established; *time to drain* = the"
	echo "drain request to the instance's exit; for rolling, the whole upgrade."
	echo
	echo "Raw lines: \`$(basename "$RAW")\`."
} >"$REPORT"
cat "$REPORT"
say "wrote $REPORT"
