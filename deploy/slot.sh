#!/bin/sh
# slot.sh - start or stop the rippd instance of one balancer slot (deploy/haproxy.cfg).
#
#   slot.sh start SLOT [BINARY] [WEIGHT]  start rippd (BINARY, default $RIPPD_BIN) on the
#                                         slot's port, wait for its /readyz, then put it
#                                         into the balancer with WEIGHT (default 1)
#   slot.sh stop SLOT [TO_SLOT]           take it out of rotation (drain), stop it, wait
#                                         until it has exited, free the slot; with TO_SLOT
#                                         and RIPP_ADMIN_TOKEN its calls are sent migrate
#                                         to TO_SLOT's own balancer route
#   slot.sh list                          the slots with a running instance
#
# The cluster comes from $RIPP_CLUSTER_ENV (see cluster.env.example). Every wait is bounded.
set -eu
: "${RIPP_CLUSTER_ENV:?RIPP_CLUSTER_ENV must name the cluster description}"
# shellcheck disable=SC1090
. "$RIPP_CLUSTER_ENV"
export RIPP_LB_ADMIN RIPP_BACKEND_CA
D=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RIPP_RUN_DIR"

say() { echo "slot.sh: $*" >&2; }
slot_var() { eval "echo \${$1_$(echo "$2" | tr a-z A-Z):-}"; }
# running PID: the process exists and has not exited (an exited process whose parent has
# not reaped it yet, as after slot.sh itself has exited, still answers kill -0)
running() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
alive() { [ -f "$RIPP_RUN_DIR/$1.pid" ] && running "$(cat "$RIPP_RUN_DIR/$1.pid")"; }

start() {
  slot=$1 bin=${2:-$RIPPD_BIN} weight=${3:-1}
  ! alive "$slot" || { say "$slot is running already"; return 1; }
  port=$(slot_var RIPP_PORT "$slot")
  [ -n "$port" ] || { say "no RIPP_PORT_$slot"; return 1; }
  case "$RIPP_STYLE" in
  cookie) route="--set-cookie SERVERID=$slot" ;;
  instance) route="--public-authority $RIPP_PUBLIC_HOST:$(slot_var RIPP_LB_PORT "$slot")" ;;
  *) say "RIPP_STYLE: cookie or instance"; return 1 ;;
  esac
  # shellcheck disable=SC2086
  RIPPD_MAINTENANCE_FILE="$RIPP_RUN_DIR/$slot.maint" nohup "$bin" $RIPPD_ARGS --port "$port" \
    $route >>"$RIPP_RUN_DIR/$slot.log" 2>&1 </dev/null &
  echo $! >"$RIPP_RUN_DIR/$slot.pid"
  echo "$bin" >"$RIPP_RUN_DIR/$slot.bin"
  n=$((${RIPP_READY_TIMEOUT:-30} * 5))
  until "$D/readyz-check.sh" - - 127.0.0.1 "$port"; do
    alive "$slot" || { say "$slot: rippd exited at start (see $RIPP_RUN_DIR/$slot.log)"; return 1; }
    n=$((n - 1))
    [ "$n" -gt 0 ] || { say "$slot: not ready in ${RIPP_READY_TIMEOUT:-30}s"; return 1; }
    sleep 0.2
  done
  "$D/lbctl.sh" attach "$slot" 127.0.0.1 "$port" "$weight"
  "$D/lbctl.sh" wait-up "$slot" "${RIPP_READY_TIMEOUT:-30}"
  say "$slot: $bin on port $port, in rotation (weight $weight)"
}

# drain_to SLOT PID TO_SLOT: POST /admin/drain?migrate_to=<TO_SLOT's balancer route>. A
# call told to move without a URI reconnects without its cookie, and the balancer, which
# routes each request by itself, may give its GET to one instance and its byways to another
# (both take it over). The route port of TO_SLOT (use-server by destination port) sends all
# of them to the one instance.
drain_to() {
  port=$(slot_var RIPP_PORT "$1") to="$RIPP_PUBLIC_HOST:$(slot_var RIPP_LB_PORT "$3")"
  "${RIPP_CLI:-ripp}" admin drain --url "https://127.0.0.1:$port" --token "$RIPP_ADMIN_TOKEN" \
    --migrate-to "$to" --ca "$RIPP_BACKEND_CA" >/dev/null &&
    say "$1: drained, its calls sent to $to"
}

stop() {
  slot=$1 to_slot=${2:-}
  pid=$(cat "$RIPP_RUN_DIR/$slot.pid" 2>/dev/null || true)
  "$D/lbctl.sh" drain "$slot"
  if [ -n "$pid" ] && running "$pid"; then
    bin=$(cat "$RIPP_RUN_DIR/$slot.bin" 2>/dev/null || echo "$RIPPD_BIN")
    # A rippd that drains on SIGUSR1 (its --help says so) keeps its calls until they end
    # or move; one that does not is stopped with SIGTERM, which ends its calls with
    # "end" (Q.850 cause 16, shutdown).
    if "$bin" --help 2>/dev/null | grep -q SIGUSR1; then
      sig=USR1 secs=${RIPP_DRAIN_TIMEOUT:-600}
    else
      sig=TERM secs=30
    fi
    if [ "$sig" = USR1 ] && [ -n "$to_slot" ] && [ -n "${RIPP_ADMIN_TOKEN:-}" ] &&
      drain_to "$slot" "$pid" "$to_slot"; then
      :
    else
      say "$slot: SIG$sig to $pid"
      kill -s "$sig" "$pid"
    fi
    n=$((secs * 5))
    while running "$pid"; do
      n=$((n - 1))
      if [ "$n" -le 0 ]; then
        if [ "$sig" = USR1 ]; then
          say "$slot: still up after ${secs}s of drain: SIGTERM"
          kill -TERM "$pid" 2>/dev/null || true
          sig=TERM n=150
          continue
        fi
        say "$slot: did not exit: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  "$D/lbctl.sh" detach "$slot"
  rm -f "$RIPP_RUN_DIR/$slot.pid" "$RIPP_RUN_DIR/$slot.bin"
  say "$slot: stopped and out of the balancer"
}

case "${1:-}" in
start) shift; start "$@" ;;
stop) stop "$2" "${3:-}" ;;
list) for f in "$RIPP_RUN_DIR"/*.pid; do
    [ -f "$f" ] || continue
    s=$(basename "$f" .pid)
    alive "$s" && echo "$s"
  done ;;
*) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
