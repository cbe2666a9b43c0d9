# Shared helpers of the integration tests (POSIX sh). Every test gets its own temporary
# directory and its own rippd on an ephemeral loopback port, and stops what it started.
set -eu
: "${RIPP_BUILD:?RIPP_BUILD must point at the build directory}"
RIPPD="$RIPP_BUILD/apps/rippd"
RIPP="$RIPP_BUILD/apps/ripp"
WAVTOOL="$RIPP_BUILD/apps/ripp-wavtool"
# The binding the ripp client speaks: the same tests run on HTTP/2 and on HTTP/3.
RIPP_TRANSPORT="${RIPP_TRANSPORT:-h2}"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/ripp-it.XXXXXX)
RIPPD_PIDS=""

cleanup() {
  for p in $RIPPD_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }; done
  exit 1
}
pass() { echo "ok: $*"; }

# start_rippd NAME ANSWER: starts rippd --dev; sets TRUNK TOKEN CA KEY DB PID_<NAME> vars.
start_rippd() {
  name=$1
  answer=$2
  "$RIPPD" --dev --state-dir "$T/$name" --answer "$answer" --log-level info \
    >"$T/$name.json" 2>"$T/$name.log" &
  pid=$!
  RIPPD_PIDS="$RIPPD_PIDS $pid"
  RIPPD_PID=$pid
  i=0
  while [ ! -s "$T/$name.json" ]; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "rippd did not start"
    kill -0 "$pid" 2>/dev/null || fail "rippd exited at start"
    sleep 0.1
  done
  TRUNK=$(jfield "$T/$name.json" trunk)
  TOKEN=$(jfield "$T/$name.json" token)
  CA=$(jfield "$T/$name.json" ca)
  KEY=$(jfield "$T/$name.json" identity_key)
  DB="$T/$name/rippd.db"
}

# start_rippd_as NAME [ARGS...]: rippd --dev in $T/NAME with ARGS, its start-up JSON in
# $T/NAME.json and its log appended to $T/NAME.log (a restart keeps the earlier lines);
# waits until it is up and sets PID_<NAME>.
start_rippd_as() {
  name=$1
  shift
  rm -f "$T/$name.json"
  "$RIPPD" --dev --state-dir "$T/$name" --log-level info "$@" >"$T/$name.json" 2>>"$T/$name.log" &
  pid=$!
  RIPPD_PIDS="$RIPPD_PIDS $pid"
  i=0
  while [ ! -s "$T/$name.json" ]; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "rippd $name did not start"
    kill -0 "$pid" 2>/dev/null || fail "rippd $name exited at start"
    sleep 0.1
  done
  eval "PID_$name=$pid"
}

# stop_rippd PID: SIGTERM and wait (bounded); fails if it does not exit cleanly.
stop_rippd() {
  pid=$1
  kill -TERM "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 100 ] || fail "rippd did not exit within 10 s of SIGTERM"
    sleep 0.1
  done
  wait "$pid" || fail "rippd exited with status $?"
}

# jfield FILE KEY: a member of the last JSON line of FILE.
jfield() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
    const o = JSON.parse(lines[lines.length - 1]);
    const v = process.argv[2].split(".").reduce((a, k) => (a == null ? a : a[k]), o);
    console.log(v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : v);
  ' "$1" "$2"
}

# ripp_call OUTFILE ARGS...: a call on the current trunk; returns ripp's exit status.
ripp_call() {
  out=$1
  shift
  st=0
  timeout 90 "$RIPP" call --transport "$RIPP_TRANSPORT" --trunk "$TRUNK" --token "$TOKEN" \
    --ca "$CA" --identity-key "$KEY" --to +14085551212 --from +14085550100 "$@" \
    >"$out" 2>"$out.log" || st=$?
  # the call went over the binding asked for (when it got as far as a summary)
  if [ -s "$out" ]; then
    used=$(jfield "$out" transport)
    [ -z "$used" ] || [ "$RIPP_TRANSPORT" = auto ] || [ "$used" = "$RIPP_TRANSPORT" ] ||
      fail "the call used $used, not $RIPP_TRANSPORT"
  fi
  return $st
}

# ripp_caps OUTFILE ARGS...: ripp caps on the current trunk over $RIPP_TRANSPORT.
ripp_caps() {
  out=$1
  shift
  timeout 30 "$RIPP" caps --transport "$RIPP_TRANSPORT" --trunk "$TRUNK" --ca "$CA" "$@" >"$out"
}

# num_ge A B: A >= B for decimals.
num_ge() { node -e 'process.exit(Number(process.argv[1]) >= Number(process.argv[2]) ? 0 : 1)' "$1" "$2"; }

# cdr_field CALL_ID KEY: from rippd's CDRs in $DB.
cdr_field() {
  "$RIPPD" --db "$DB" --cdrs >"$T/cdrs.jsonl"
  grep "\"call_id\":\"$1\"" "$T/cdrs.jsonl" >"$T/cdr.json" || fail "no CDR for call $1"
  jfield "$T/cdr.json" "$2"
}

call_id_of() { jfield "$1" call | sed 's|.*/||'; }
