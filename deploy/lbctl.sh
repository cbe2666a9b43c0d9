#!/bin/sh
# lbctl.sh - instance slots of a running HAProxy (deploy/haproxy.cfg) through its runtime
# API (the admin socket, with socat). Changes apply at once, without a reload; they are
# lost when HAProxy restarts (keep the config in step, or use a server-state file).
#
#   lbctl.sh attach SLOT ADDR PORT [WEIGHT]   put an instance into slot SLOT (s1..) and
#                                             enable it; health checks decide when it is UP
#   lbctl.sh wait-up SLOT [SECONDS]           until its checks pass (default 20 s)
#   lbctl.sh wait-down SLOT [SECONDS]         until its checks fail or it is in maintenance
#   lbctl.sh weight SLOT WEIGHT               change its weight (0..256)
#   lbctl.sh drain SLOT                       no new calls; requests carrying its cookie
#                                             (calls it has) still go to it
#   lbctl.sh detach SLOT                      maintenance, back to the placeholder address
#   lbctl.sh free-slot                        print the first slot in maintenance
#   lbctl.sh state SLOT                       print: UP, DOWN, DRAIN, MAINT (and the address)
#   lbctl.sh status                           every slot: name, address, port, state, weight
#
# Environment: RIPP_LB_ADMIN (the socket, required), RIPP_LB_BACKEND (default rippd).
set -eu
: "${RIPP_LB_ADMIN:?RIPP_LB_ADMIN must name HAProxy's admin socket}"
BE=${RIPP_LB_BACKEND:-rippd}

cmd() { printf '%s\n' "$*" | socat -t 5 stdio "UNIX-CONNECT:$RIPP_LB_ADMIN"; }

# "show servers state" columns: 4 srv_name, 5 srv_addr, 6 srv_op_state (0 stopped, 2 running),
# 7 srv_admin_state (bit 0/1/2: maintenance, bit 3/4/5: drain), 8 srv_uweight,
# 10 srv_check_status... , 19 srv_port
servers() { cmd "show servers state $BE" | awk 'NR > 2 && NF > 10'; }

# admin state bits: 0x01 0x02 0x20 0x40 maintenance (forced, inherited, resolution,
# hostname), 0x08 0x10 drain (forced, inherited); 0x04 (configured "disabled") stays set
# after "state ready" and means nothing then
AWK_FLAGS='function bit(v, k) { return int(v / 2 ^ k) % 2 }
function maint(v) { return bit(v, 0) || bit(v, 1) || bit(v, 5) || bit(v, 6) }
function drain(v) { return bit(v, 3) || bit(v, 4) }'

state_of() {
  servers | awk -v s="$1" "$AWK_FLAGS"'
  $4 == s {
    adm = $7 + 0; op = $6 + 0
    if (maint(adm)) st = "MAINT"
    else if (drain(adm)) st = "DRAIN"
    else if (op == 0) st = "DOWN"
    else st = "UP"
    print st, $5 ":" $19, "weight=" $8; found = 1
  } END { if (!found) exit 1 }'
}

ok() {
  out=$(cmd "$@")
  case "$out" in
  "" | *"not changed"* | *"ready"* | *"IP changed"* | *"no need to change"* | *"port changed"*) ;;
  *) echo "lbctl: $*: $out" >&2 ;;
  esac
}

wait_state() { # SLOT SECONDS STATES...
  slot=$1 secs=$2
  shift 2
  n=$((secs * 5))
  while [ "$n" -gt 0 ]; do
    st=$(state_of "$slot" | cut -d' ' -f1)
    for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    n=$((n - 1))
    sleep 0.2
  done
  echo "lbctl: $slot is $st after ${secs}s" >&2
  return 1
}

case "${1:-}" in
attach)
  [ $# -ge 4 ] || { echo "usage: lbctl.sh attach SLOT ADDR PORT [WEIGHT]" >&2; exit 2; }
  ok "set server $BE/$2 addr $3 port $4"
  ok "set server $BE/$2 weight ${5:-1}"
  ok "set server $BE/$2 state ready"
  ok "enable health $BE/$2"
  ;;
wait-up) wait_state "$2" "${3:-20}" UP ;;
wait-down) wait_state "$2" "${3:-20}" DOWN MAINT ;;
weight) ok "set server $BE/$2 weight $3" ;;
drain) ok "set server $BE/$2 state drain" ;;
detach)
  ok "set server $BE/$2 state maint"
  ok "set server $BE/$2 addr 127.0.0.1 port 1"
  ;;
free-slot) state_of_all=$(servers) && printf '%s\n' "$state_of_all" |
  awk "$AWK_FLAGS"' maint($7 + 0) { print $4; exit }' | grep . || { echo "lbctl: no free slot" >&2; exit 1; } ;;
state) state_of "$2" ;;
status) for s in $(servers | awk '{print $4}'); do echo "$s $(state_of "$s")"; done ;;
*)
  sed -n '2,20p' "$0" >&2
  exit 2
  ;;
esac
