#!/usr/bin/env bash
# bench/setup/run.sh [BUILD_DIR]
#
# The call-setup-rate benchmark: rippd (echo trunk, pinned to CPU 1) taking calls that
# ripp-load (pinned to CPU 0) places at R calls per second, each with a freshly signed
# PASSporT, POST /calls, event and media byways, `accepted`, a short hold with media both
# ways, and an end. For every series (trunk-key PASSporTs over HTTP/2, SHAKEN PASSporTs
# verified with STI certificates over HTTP/2, and the same two over HTTP/3), the rate goes
# up the list until a run fails, then is narrowed down between the last pass and the
# failure. Also measures PASSporT signs and verifications per second on one core
# (ripp-stir bench). Writes bench/setup/reports/<date>.md and <date>.jsonl and prints the
# table. Method, pass criterion and knobs: bench/setup/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$REPO/build}
BUILD=$(cd "$BUILD" && pwd) || { echo "setup-bench: no build directory ${1:-}" >&2; exit 1; }
read -r -a RATES <<<"${SETUP_RATES:-100 250 500 1000 1500 2000}"
read -r -a SERIES <<<"${SETUP_SERIES:-h2-key h2-stir h3-key h3-stir}"
SECONDS_WIN=${SETUP_SECONDS:-10}
HOLD=${SETUP_HOLD:-0.2}
# rippd keeps an ended call for 30 s (its linger: late byways get 404), with its memory, and
# walks it on every media tick: the warm-up outlasts it, so that the window sees as many
# lingering calls as a long run would
WARMUP=${SETUP_WARMUP:-32}
P99_LIMIT_MS=${SETUP_P99_MS:-200}
MIN_COMPLETED=${SETUP_MIN_COMPLETED:-99}
RESOLUTION=${SETUP_RESOLUTION:-50}   # narrow the largest passing rate down to this (calls/s)
NARROW_STEPS=${SETUP_NARROW_STEPS:-4}
PRIO=${SETUP_PRIO:-auto}
PROFILE=${SETUP_PROFILE:-1}
QUIET_WAIT=${SETUP_QUIET_WAIT:-60}
QUIET_MAX=${SETUP_QUIET_MAX:-25}
OUTDIR=${SETUP_OUT:-$HERE/reports}
NAME=${SETUP_NAME:-}
REPORT_ONLY=${SETUP_REPORT_ONLY:-} # 1: only write BASE.md again from BASE.jsonl (SETUP_NAME)
KEEP_DIR=${SETUP_KEEP_LOGS:-}
ORIG=15550000000 # ripp-load's default --from; the STI certificate covers it
SERVER_CPU=1
GEN_CPU=0

say() { echo "setup-bench: $*" >&2; }
die() {
	echo "setup-bench: error: $*" >&2
	exit 1
}

RIPPD=$BUILD/apps/rippd
LOADGEN=$BUILD/apps/ripp-load
STICERT=$BUILD/apps/ripp-sticert
STIR=$BUILD/apps/ripp-stir
for b in "$RIPPD" "$LOADGEN" "$STICERT" "$STIR"; do
	[[ -x $b ]] || die "$b is missing (build rippd, ripp-load, ripp-sticert and ripp-stir)"
done
"$LOADGEN" --help | grep -q -- --setup-rate || die "this ripp-load has no --setup-rate"
for r in "${RATES[@]}"; do
	[[ $r =~ ^[0-9]+$ && $r -ge 1 ]] || die "SETUP_RATES: positive integers, not '$r'"
done
for s in "${SERIES[@]}"; do
	[[ $s =~ ^h[23]-(key|stir)$ ]] || die "SETUP_SERIES: h2-key, h2-stir, h3-key, h3-stir, not '$s'"
done
[[ $SECONDS_WIN =~ ^[0-9]+$ && $SECONDS_WIN -ge 1 ]] || die "SETUP_SECONDS: a whole number >= 1"
(($(nproc --all) >= 2)) || die "needs 2 CPUs (rippd on CPU $SERVER_CPU, ripp-load on CPU $GEN_CPU)"
command -v jq >/dev/null || die "jq is needed"
command -v taskset >/dev/null || die "taskset is needed"

case $PRIO in
auto) if [[ $(id -u) -eq 0 ]] && command -v chrt >/dev/null; then PRIO=rt; else PRIO=none; fi ;;
rt | nice | none) ;;
*) die "SETUP_PRIO must be rt, nice, none or auto" ;;
esac
PRIO_CMD=()
case $PRIO in
rt) PRIO_CMD=(chrt -f 10) ;;
nice) PRIO_CMD=(nice -n -15) ;;
esac

SCRATCH=$(mktemp -d /tmp/ripp-setup-bench.XXXXXX)
RIPPD_PID=""
LOAD_PID=""

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
	stop_pid "$RIPPD_PID" rippd 5
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

core_jiffies() { # CPU -> "busy total"
	awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8; t = b + $5 + $6 + $9; print b, t }' /proc/stat
}
background_busy() { # busy % of CPUs 0 and 1 over one second
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

# ---- STIR credentials: a test CA (the trust anchor) and an STI certificate for $ORIG ----
"$STICERT" ca --out "$SCRATCH/ca" >/dev/null || die "ripp-sticert ca failed"
"$STICERT" issue --ca "$SCRATCH/ca" --out "$SCRATCH/sti" --tn "$ORIG" >/dev/null ||
	die "ripp-sticert issue failed"
mkdir -p "$SCRATCH/pub"
cp "$SCRATCH/sti/cert.pem" "$SCRATCH/pub/cert.pem" # rippd serves it at /stir/cert.pem (x5u)

# ---- one run ----
# run_one SERIES RATE [profile]: writes the JSON line to $SCRATCH/line.json
run_one() {
	local series=$1 rate=$2 profile=${3:-} tr=${1%%-*} id=${1#*-} dir rc=0 line
	dir=$(mktemp -d "$SCRATCH/run-$series-$rate.XXXX")
	local srv_args=(--dev --answer echo --state-dir "$dir/state" --log-level warn)
	if [[ $id == stir ]]; then
		# rippd verifies SHAKEN PASSporTs: trust anchor = the test CA; it publishes the STI
		# certificate itself and fetches it over HTTPS once (then it is cached)
		cat >"$dir/stir.json" <<-EOF
			{"stir": {"trust_anchors": "$SCRATCH/ca/cert.pem", "publish_dir": "$SCRATCH/pub",
			          "fetch_ca": "$dir/state/cert.pem", "fetch_timeout_ms": 2000}}
		EOF
		srv_args+=(--config "$dir/stir.json" --identity-pub stir)
	fi
	"${PRIO_CMD[@]}" taskset -c $SERVER_CPU "$RIPPD" "${srv_args[@]}" >"$dir/rippd.json" 2>"$dir/rippd.log" &
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
	local id_args=(--identity-key "$key")
	[[ $id == stir ]] && id_args=(--identity-key "$SCRATCH/sti/key.pem" --sti-cert "$SCRATCH/sti/cert.pem")
	local prof_pid=""
	if [[ -n $profile ]] && command -v perf >/dev/null; then
		# 5 s of the window (warm-up: hold + 1 s)
		(
			sleep "$(awk -v w="$WARMUP" 'BEGIN { printf "%d", w + 3 }')"
			perf record -g -o "$dir/perf.data" -p "$RIPPD_PID" -- sleep 5 >/dev/null 2>&1 || true
		) &
		prof_pid=$!
	fi
	local limit
	limit=$(awk -v h="$HOLD" -v w="$SECONDS_WIN" -v u="$WARMUP" 'BEGIN { printf "%d", 10 + u + w + 5 + h + 20 + 10 + 30 }')
	local load0
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	timeout -k 5 "$limit" "${PRIO_CMD[@]}" taskset -c $GEN_CPU "$LOADGEN" --trunk "$trunk" \
		--token "$token" --ca "$ca" "${id_args[@]}" --setup-rate "$rate" --hold "$HOLD" --warmup "$WARMUP" \
		--seconds "$SECONDS_WIN" --transport "$tr" --server-pid "$RIPPD_PID" \
		--server-cpu $SERVER_CPU >"$dir/load.json" 2>"$dir/load.log" &
	LOAD_PID=$!
	wait "$LOAD_PID" || rc=$?
	LOAD_PID=""
	if [[ -n $prof_pid ]]; then wait "$prof_pid" 2>/dev/null || true; fi
	local alive=true
	is_running "$RIPPD_PID" || alive=false
	stop_pid "$RIPPD_PID" rippd 10
	RIPPD_PID=""
	local logsum
	logsum=$({
		grep -hE ' (error|warn) ' "$dir/rippd.log" | sed 's/^[^ ]* //' || true
		grep -hE '^ripp-load (error|warn) ' "$dir/load.log" || true
	} | sed -E 's#https?://[^ ]*#URL#g; s/[0-9a-f]{8}-[0-9a-f-]{27}/ID/g; s/[0-9]+/N/g' |
		sort | uniq -c | sort -rn | head -n 6 | sed -E 's/^ *//' |
		jq -R -s -c 'split("\n") | map(select(length > 0))')
	# the server's own view: its CDRs (warm-up and window calls)
	local view='{}'
	if [[ -f $dir/state/rippd.db ]]; then
		view=$(timeout 60 "$RIPPD" --db "$dir/state/rippd.db" --cdrs 2>/dev/null | jq -s -c '
			{ cdrs: length,
			  outcomes: (group_by(.outcome) | map({key: .[0].outcome, value: length}) | from_entries),
			  identity: (group_by(.identity // "none") | map({key: (.[0].identity // "none"), value: length}) | from_entries) }' 2>/dev/null) || view='{}'
		[[ -n $view ]] || view='{}'
	fi
	# the profile goes into the JSON line, so that a report written again keeps it
	: >"$dir/prof-fn.txt"
	: >"$dir/prof-dso.txt"
	if [[ -n $profile && -f $dir/perf.data ]]; then
		perf report -i "$dir/perf.data" --stdio --no-children --sort dso,symbol -g none \
			2>/dev/null | grep -vE '^(#|$)' | head -40 >"$dir/prof-fn.txt" || true
		perf report -i "$dir/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
			grep -vE '^(#|$)' | head -15 >"$dir/prof-dso.txt" || true
	fi
	line=$(tail -n 1 "$dir/load.json" 2>/dev/null || true)
	if [[ -z $line ]] || ! jq -e . >/dev/null 2>&1 <<<"$line"; then
		line=$(jq -n -c --argjson r "$rate" --arg tr "$tr" --arg e "ripp-load exited $rc without a result" \
			'{tool: "ripp-load", mode: "setup-rate", ok: false, setup_rate: $r, transport: $tr, error: $e}')
		tail -n 20 "$dir/load.log" >&2 || true
	fi
	if [[ $alive == false ]]; then
		say "rippd died during the run ($series at $rate/s); its log:"
		tail -n 20 "$dir/rippd.log" >&2 || true
	fi
	jq -c --arg series "$series" --argjson view "$view" --argjson rc "$rc" --argjson logsum "${logsum:-[]}" \
		--argjson alive "$alive" --argjson bg0 "$BG0" --argjson bg1 "$BG1" --arg prio "$PRIO" \
		--arg load0 "$load0" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" \
		--argjson profiled "$([[ -n $profile ]] && echo true || echo false)" \
		--rawfile pfn "$dir/prof-fn.txt" --rawfile pdso "$dir/prof-dso.txt" \
		'. + {series: $series, server_view: $view, log_summary: $logsum, exit_status: $rc,
		      rippd_survived: $alive, background_busy_cpu0: $bg0, background_busy_cpu1: $bg1,
		      priority: $prio, loadavg_before: $load0, loadavg_after: $load1, profiled: $profiled}
		 + (if $profiled then {profile_by_function: $pfn, profile_by_library: $pdso} else {} end)' \
		<<<"$line" >"$SCRATCH/line.json"
	if [[ -n $KEEP_DIR ]] && ! jq -e "$PASS_EXPR" --argjson lim "$P99_LIMIT_MS" --argjson minc "$MIN_COMPLETED" \
		"$SCRATCH/line.json" >/dev/null 2>&1; then
		local keep="$KEEP_DIR/$series-$rate-$(date -u +%H%M%S)"
		mkdir -p "$keep" && cp "$dir/rippd.log" "$dir/load.log" "$dir/load.json" "$keep/" 2>/dev/null || true
	fi
	rm -rf "$dir"
}

# A run passes when the generator offered the rate (within 2 %, pacing lag p99 < 20 ms),
# at least MIN_COMPLETED % of the window's calls were set up (201 and `accepted`), their
# setup latency p99 is under P99_LIMIT_MS, and rippd survived.
PASS_EXPR='.ok == true and .rippd_survived == true and
	.attempted_per_s >= 0.98 * .setup_rate and .generator_kept_up == true and
	.completed_percent >= $minc and .setup_latency_p99_ms != null and .setup_latency_p99_ms < $lim'
# (the generator's pacing lag grows when rippd falls behind too: thousands of calls waiting
# for their answer slow the generator's loop, so it is named last)
VERDICT_EXPR='if .ok != true then "no (" + (.error // "failed") + ")"
	elif .rippd_survived != true then "no (rippd died)"
	elif .attempted_per_s < 0.98 * .setup_rate then "no (generator offered only \(.attempted_per_s)/s)"
	elif .completed_percent < $minc then "no (\(.completed_percent) % completed)"
	elif .setup_latency_p99_ms == null or .setup_latency_p99_ms >= $lim then "no (p99 \(.setup_latency_p99_ms) ms)"
	elif .generator_kept_up != true then "no (generator pacing lag p99 \(.pace_lag_p99_ms) ms)"
	else "yes" end'

mkdir -p "$OUTDIR"
DATE=$(date -u +%Y-%m-%d)
if [[ -n $REPORT_ONLY ]]; then
	[[ -n $NAME && -s $OUTDIR/$NAME.jsonl ]] || die "SETUP_REPORT_ONLY needs SETUP_NAME naming an existing .jsonl"
	BASE=$OUTDIR/$NAME
elif [[ -n $NAME ]]; then
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
if [[ -z $REPORT_ONLY ]]; then
	: >"$RAW"
fi

passes() { # SERIES RATE
	jq -e -s --arg s "$1" --argjson r "$2" --argjson lim "$P99_LIMIT_MS" --argjson minc "$MIN_COMPLETED" "
		map(select(.series == \$s and .setup_rate == \$r and (.profiled | not))) |
		length > 0 and all($PASS_EXPR)" "$RAW" >/dev/null
}

measure() { # SERIES RATE [profile]
	wait_quiet
	say "$1 at $2 setups/s (CPU0 ${BG0} %, CPU1 ${BG1} % busy before; load $(cut -d' ' -f1-3 /proc/loadavg))${3:+, profiled}"
	run_one "$@"
	cat "$SCRATCH/line.json" >>"$RAW"
	jq -r --argjson lim "$P99_LIMIT_MS" --argjson minc "$MIN_COMPLETED" "($VERDICT_EXPR) as \$v | "'
		"setup-bench:   \(.completed // "-")/\(.attempted // "-") completed, \(.setups_per_s // "-")/s, latency p50 \(.setup_latency_p50_ms // "-") p99 \(.setup_latency_p99_ms // "-") ms, rippd \(.server_cpu_us_per_setup // "-") us/setup, \(.server_cpu_percent_of_core // "-") % core, ripp-load \(.generator_cpu_percent_of_core // "-") % -> pass: \($v)"' \
		"$SCRATCH/line.json" >&2
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [[ -z $REPORT_ONLY ]]; then
jq -n -c --arg start "$START" --arg build "$BUILD" --arg hold "$HOLD" --argjson win "$SECONDS_WIN" --arg warm "$WARMUP" \
	--arg prio "$PRIO" --arg rippd "$(date -u -r "$RIPPD" +%Y-%m-%dT%H:%M:%SZ)" \
	--arg load "$(date -u -r "$LOADGEN" +%Y-%m-%dT%H:%M:%SZ)" \
	'{run: "start", start: $start, build: $build, hold_s: ($hold | tonumber), warmup_s: ($warm | tonumber), window_s: $win, priority: $prio, rippd_built: $rippd, ripp_load_built: $load}' >>"$RAW"
say "build $BUILD, rates ${RATES[*]}, series ${SERIES[*]}, warm-up ${WARMUP} s, window ${SECONDS_WIN} s, hold ${HOLD} s, priority $PRIO"

# ---- PASSporT signs and verifications per second on one core ----
for k in 1 2; do
	wait_quiet
	out=$("${PRIO_CMD[@]}" taskset -c $SERVER_CPU "$STIR" bench --cert "$SCRATCH/sti/cert.pem" \
		--key "$SCRATCH/sti/key.pem" --ca "$SCRATCH/ca/cert.pem" --orig "$ORIG" --seconds 3 2>&1 | tail -n 1) || true
	if jq -e . >/dev/null 2>&1 <<<"$out"; then
		jq -c --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson bg1 "$BG1" \
			'{tool: "ripp-stir bench", cpu: 1} + . + {loadavg: $load, background_busy_cpu1: $bg1}' <<<"$out" >>"$RAW"
		say "ripp-stir bench: $out"
	else
		say "ripp-stir bench failed: $out"
	fi
done

# ---- HTTP/3: a short trial decides whether this build has it on both sides ----
H3_NOTE=""
if printf '%s\n' "${SERIES[@]}" | grep -q '^h3-'; then
	SAVE=("$SECONDS_WIN" "$WARMUP")
	SECONDS_WIN=1
	WARMUP=1
	run_one h3-key 10
	SECONDS_WIN=${SAVE[0]}
	WARMUP=${SAVE[1]}
	if ! jq -e '.ok == true and .completed > 0' "$SCRATCH/line.json" >/dev/null 2>&1; then
		H3_NOTE=$(jq -r '.error // (.failures[0] // "the trial calls failed")' "$SCRATCH/line.json" 2>/dev/null || echo "the trial calls failed")
		say "SKIPPING HTTP/3: $H3_NOTE"
		mapfile -t SERIES < <(printf '%s\n' "${SERIES[@]}" | grep -v '^h3-')
	fi
fi

# ---- the sweeps ----
for s in "${SERIES[@]}"; do
	best=0
	worst=0
	for r in "${RATES[@]}"; do
		measure "$s" "$r"
		if passes "$s" "$r"; then
			best=$r
		else
			worst=$r
			break
		fi
	done
	# narrow down between the last pass and the first failure
	steps=0
	while ((worst > 0 && worst - best > RESOLUTION && steps < NARROW_STEPS)); do
		r=$(((best + worst) / 2 / RESOLUTION * RESOLUTION))
		((r <= best)) && r=$((best + RESOLUTION))
		((r >= worst)) && break
		measure "$s" "$r"
		steps=$((steps + 1))
		if passes "$s" "$r"; then best=$r; else worst=$r; fi
	done
	echo "{\"search\":true,\"series\":\"$s\",\"largest_passing\":$best,\"smallest_failing\":$worst}" >>"$RAW"
done

# ---- profiles: rippd at the largest passing rate of each HTTP/2 series ----
if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
	for s in "${SERIES[@]}"; do
		[[ $s == h2-* ]] || continue
		pr=$(jq -r -s --arg s "$s" 'map(select(.search and .series == $s)) | .[0].largest_passing // 0' "$RAW")
		((pr > 0)) || continue
		measure "$s" "$pr" profile
	done
fi
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "{\"run\":\"end\",\"end\":\"$END\",\"h3_note\":$(jq -n --arg n "$H3_NOTE" '$n')}" >>"$RAW"
fi # not REPORT_ONLY

# ---- the report ----
# what the raw lines say about the run (a report written again from them says the same)
meta() { jq -r -s "map(select(.run == \"$1\")) | .[0].$2 // empty" "$RAW"; }
START=$(meta start start)
END=$(meta end end)
H3_NOTE=$(meta end h3_note)
R_BUILT=$(meta start rippd_built)
L_BUILT=$(meta start ripp_load_built)
M_BUILD=$(meta start build)
M_PRIO=$(meta start priority)
M_HOLD=$(meta start hold_s)
M_WIN=$(meta start window_s)
M_WARM=$(meta start warmup_s)
[[ -n $M_HOLD ]] && HOLD=$M_HOLD
[[ -n $M_WIN ]] && SECONDS_WIN=$M_WIN
[[ -n $M_PRIO ]] && PRIO=$M_PRIO
TABLE=$(jq -r -s --argjson lim "$P99_LIMIT_MS" --argjson minc "$MIN_COMPLETED" '
	def f(d): if . == null then "–" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
	def sname: {"h2-key": "HTTP/2, trunk key", "h2-stir": "HTTP/2, STIR", "h3-key": "HTTP/3, trunk key", "h3-stir": "HTTP/3, STIR"}[.] // .;
	"| series | offered /s | attempted | completed % | setups/s | setup latency p50 / p99 / max ms | first media p99 ms | rippd µs CPU per setup | rippd % of core | ripp-load % of core | CPU 1 steal % | load avg | failures | pass |",
	"|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|",
	(map(select(.tool == "ripp-load" and .series != null and (.profiled | not))) | sort_by(.series, .setup_rate) | .[] |
	 "| \(.series | sname) | \(.setup_rate) | \(.attempted // "–") | \(.completed_percent | f(2)) | \(.setups_per_s | f(1)) | \(.setup_latency_p50_ms | f(2)) / \(.setup_latency_p99_ms | f(2)) / \(.setup_latency_max_ms | f(1)) | \(.first_media_p99_ms | f(1)) | \(.server_cpu_us_per_setup | f(0)) | \(.server_cpu_percent_of_core | f(1)) | \(.generator_cpu_percent_of_core | f(1)) | \(.server_core_steal_percent | f(1)) | \(.loadavg_before | split(" ") | .[0]) | \(if (.failure_classes // {}) | length > 0 then (.failure_classes | to_entries | map("\(.key) \(.value)") | join(", ")) else "–" end) | \('"$VERDICT_EXPR"') |")
' "$RAW")
SEARCH=$(jq -r -s '
	def sname: {"h2-key": "HTTP/2, trunk-key PASSporTs", "h2-stir": "HTTP/2, SHAKEN PASSporTs (STIR)", "h3-key": "HTTP/3, trunk-key PASSporTs", "h3-stir": "HTTP/3, SHAKEN PASSporTs (STIR)"}[.] // .;
	map(select(.search)) | .[] | "- \(.series | sname): largest passing rate **\(.largest_passing) setups/s**\(if .smallest_failing > 0 then " (smallest failing: \(.smallest_failing))" else " (no failure up to the end of the list)" end)"' "$RAW")
STIRB=$(jq -r -s 'map(select(.tool == "ripp-stir bench")) | .[] | "- \(.signs_per_s) signs/s, \(.verifies_per_s) verifications/s (\(.verified_ok) verified, \(.refused) refused; load average \(.loadavg), CPU 1 \(.background_busy_cpu1) % busy before)"' "$RAW")
NOTES=$(jq -r -s '
	map(select(.tool == "ripp-load" and .series != null)) | sort_by(.series, .setup_rate) | .[] |
	"- \(.series) at \(.setup_rate)/s\(if .profiled then " (profiled, not in the table)" else "" end): connections \(.connections // "–"), calls up at most \(.calls_up_max // "–"), pacing lag p99 \(.pace_lag_p99_ms // "–") ms, first media p50 \(.first_media_p50_ms // "–") ms, media both ways in \(.media_ok // "–") calls, ended abnormally \(.ended_abnormally // "–"), warm-up failures \(.warmup_failed // "–"), rippd RSS \(if .server_rss_kb then (.server_rss_kb / 1024 | floor | tostring) + " MiB" else "–" end), ripp-load \(.generator_cpu_us_per_setup // "–") µs per setup, server view \(.server_view | tojson), load average \(.loadavg_before) → \(.loadavg_after), CPUs busy before \(.background_busy_cpu0) % / \(.background_busy_cpu1) %\(if .error then "; **error: " + .error + "**" else "" end)\(if (.failures // []) | length > 0 then "\n  - first failures: " + (.failures | map("`" + . + "`") | join("; ")) else "" end)\(if (.log_summary // []) | length > 0 then "\n  - logged (count, message): " + (.log_summary | map("`" + . + "`") | join("; ")) else "" end)"' "$RAW")
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
{
	echo "# Call-setup rate, $DATE"
	echo
	echo "rippd (echo trunk) taking calls from ripp-load at a fixed rate: each call a freshly signed"
	echo "PASSporT, POST /calls, event and media byways, \`accepted\`, ${HOLD} s of G.711 both ways, end."
	echo "Method and pass criterion: [bench/setup/README.md](../README.md). Raw JSON lines:"
	echo "[$(basename "$BASE").jsonl]($(basename "$BASE").jsonl)."
	echo
	echo "## Largest passing rate (≥ ${MIN_COMPLETED} % completed, setup latency p99 < ${P99_LIMIT_MS} ms)"
	echo
	echo "$SEARCH"
	echo
	echo "## PASSporT signing and verification on one core (ripp-stir bench, CPU 1)"
	echo
	echo "${STIRB:-- not measured}"
	echo
	echo "## Runs"
	echo
	echo "$TABLE"
	echo
	echo "Setup latency: start of signing the PASSporT to the arrival of \`accepted\`; first media:"
	echo "start of signing to the first echoed frame. rippd µs CPU per setup: rippd's utime+stime over"
	echo "the ${SECONDS_WIN} s window divided by the calls placed in it (the hold's media and the teardown of"
	echo "calls included, 10 ms ticks). Setups/s: calls of the window that completed, per second."
	echo
	echo "## Machine and run"
	echo
	echo "- $(nproc) CPUs ($(nproc --all) online), $CPU_MODEL, $MEM; kernel $(uname -r)"
	echo "- rippd on CPU $SERVER_CPU, ripp-load on CPU $GEN_CPU; priority: $PRIO$([[ $PRIO == rt ]] && echo " (SCHED_FIFO 10 for both)")"
	echo "- binaries built ${R_BUILT:-?} (rippd) and ${L_BUILT:-?} (ripp-load) in ${M_BUILD:-$BUILD}"
	echo "- window ${SECONDS_WIN} s after a warm-up of ${M_WARM:-$HOLD + 1} s at the same rate; hold ${HOLD} s; ${START:-?} – ${END:-?}"
	[[ -n $H3_NOTE ]] && echo "- HTTP/3 was not measured: $H3_NOTE"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	[[ -s $SCRATCH/incidents ]] && sed 's/^/- incident: /' "$SCRATCH/incidents"
	echo
	echo "## Per run"
	echo
	echo "$NOTES"
	jq -r -s 'map(select(.profiled == true)) | .[] |
		"\n## Profile of rippd, \(.series) at \(.setup_rate)/s: perf record -g -p rippd, 5 s of the window\n\nBy library:\n\n```\n\(.profile_by_library // "")```\n\nBy function:\n\n```\n\(.profile_by_function // "")```"' "$RAW"
} >"$BASE.md"

echo
echo "$SEARCH"
echo
echo "$TABLE"
say "report: $BASE.md (raw: $RAW)"
