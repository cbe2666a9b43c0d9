# Network namespaces for tests and benchmarks that need a real, lossy, delaying path
# between two hosts (POSIX sh; source it, then call netns_setup). Needs root.
#
#   A (10.199.1.2) --veth-- M (10.199.1.1 | 10.199.2.1) --veth-- B (10.199.2.2)
#
# M forwards between A and B. netns_delay runs ripp-delayline in M on a TUN device that
# policy routing puts on the path of every packet forwarded in either direction, so TCP
# and UDP see the same delay. netns_loss drops packets at random with nftables where they
# enter A or B: real network loss for both TCP and UDP (a drop in a sender's own output
# hook would instead fail the send call, which TCP treats as local congestion, not loss).
#
# Names are unique per run (ripp-{a,m,b}-$$); netns_setup removes what earlier runs left
# behind (their PID is gone) and installs an EXIT trap that runs netns_teardown and then
# the function named in NETNS_ON_EXIT (the caller's own cleanup), if set.
#
# Variables set: NS_A NS_M NS_B ADDR_A ADDR_B NETNS_DIR (a temporary directory).

: "${RIPP_BUILD:?RIPP_BUILD must point at the build directory}"
DELAYLINE="$RIPP_BUILD/apps/tools/ripp-delayline"
[ -x "$DELAYLINE" ] || DELAYLINE="$RIPP_BUILD/apps/ripp-delayline"
UDPBASE="$RIPP_BUILD/apps/tools/ripp-udpbase"
[ -x "$UDPBASE" ] || UDPBASE="$RIPP_BUILD/apps/ripp-udpbase"
ADDR_A=10.199.1.2
ADDR_B=10.199.2.2
NETNS_PIDS=""
DELAY_PID=""

# netns_usable: 0 when namespaces can be made here (root, iproute2, nft, TUN).
netns_usable() {
  [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v nft >/dev/null &&
    [ -c /dev/net/tun ] && [ -x "$DELAYLINE" ] && [ -x "$UDPBASE" ]
}

# Namespaces of runs whose process is gone: stop what still runs in them, delete them.
netns_cleanup_stale() {
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ripp-[amb]-[0-9]+$'); do
    owner=${ns##*-}
    kill -0 "$owner" 2>/dev/null && continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

netns_teardown() {
  for p in $NETNS_PIDS $DELAY_PID; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for ns in ${NS_A:-} ${NS_M:-} ${NS_B:-}; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  NETNS_PIDS=""
  DELAY_PID=""
  [ -n "${NETNS_DIR:-}" ] && rm -rf "$NETNS_DIR"
  NS_A="" NS_M="" NS_B=""
}

netns_on_exit() {
  rc=$?
  netns_teardown
  if [ -n "${NETNS_ON_EXIT:-}" ]; then "$NETNS_ON_EXIT"; fi
  exit $rc
}

netns_setup() {
  netns_cleanup_stale
  NS_A=ripp-a-$$ NS_M=ripp-m-$$ NS_B=ripp-b-$$
  NETNS_DIR=$(mktemp -d /tmp/ripp-netns.XXXXXX)
  trap netns_on_exit EXIT
  trap 'exit 130' INT TERM
  for ns in $NS_A $NS_M $NS_B; do
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    # no IPv6 chatter (router solicitations, MLD) in the packet counts
    ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6;
      echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
  done
  ip -n "$NS_A" link add a0 type veth peer name mida netns "$NS_M" || return 1
  ip -n "$NS_B" link add b0 type veth peer name midb netns "$NS_M" || return 1
  ip -n "$NS_A" addr add $ADDR_A/24 dev a0
  ip -n "$NS_M" addr add 10.199.1.1/24 dev mida
  ip -n "$NS_M" addr add 10.199.2.1/24 dev midb
  ip -n "$NS_B" addr add $ADDR_B/24 dev b0
  for l in "$NS_A a0" "$NS_M mida" "$NS_M midb" "$NS_B b0"; do
    set -- $l
    ip -n "$1" link set dev "$2" up || return 1
  done
  ip -n "$NS_A" route add default via 10.199.1.1
  ip -n "$NS_B" route add default via 10.199.2.1
  ip netns exec "$NS_M" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward;
    echo 0 >/proc/sys/net/ipv4/conf/all/rp_filter;
    echo 0 >/proc/sys/net/ipv4/conf/default/rp_filter' || return 1
}

# netns_exec NS CMD...: run CMD in NS (foreground).
netns_exec() {
  ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# netns_bg NS OUT ERR CMD...: run CMD in NS in the background (stopped by the teardown);
# sets NETNS_LAST_PID.
netns_bg() {
  ns=$1 out=$2 err=$3
  shift 3
  ip netns exec "$ns" "$@" >"$out" 2>"$err" &
  NETNS_LAST_PID=$!
  NETNS_PIDS="$NETNS_PIDS $NETNS_LAST_PID"
}

# netns_delay MS [JITTER_MS]: every packet between A and B waits MS ms in M (each way).
netns_delay() {
  ip -n "$NS_M" tuntap add dev dl0 mode tun || return 1
  ip netns exec "$NS_M" sh -c 'echo 0 >/proc/sys/net/ipv4/conf/dl0/rp_filter' || return 1
  ip -n "$NS_M" link set dev dl0 up || return 1
  ip -n "$NS_M" route add default dev dl0 table 100 || return 1
  ip -n "$NS_M" rule add iif mida lookup 100 || return 1
  ip -n "$NS_M" rule add iif midb lookup 100 || return 1
  ip netns exec "$NS_M" "$DELAYLINE" --dev dl0 --delay-ms "$1" --jitter-ms "${2:-0}" \
    --a-addr $ADDR_A >"$NETNS_DIR/delayline.jsonl" 2>"$NETNS_DIR/delayline.log" &
  DELAY_PID=$!
  i=0
  until grep -q 'up, delay' "$NETNS_DIR/delayline.log" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 "$DELAY_PID" 2>/dev/null; then
      cat "$NETNS_DIR/delayline.log" >&2
      return 1
    fi
    sleep 0.1
  done
}

# netns_delay_counters: the delay line's counters (one JSON line) on stdout.
netns_delay_counters() {
  n=$(wc -l <"$NETNS_DIR/delayline.jsonl")
  kill -USR1 "$DELAY_PID" || return 1
  i=0
  while [ "$(wc -l <"$NETNS_DIR/delayline.jsonl")" -le "$n" ]; do
    i=$((i + 1))
    [ $i -le 50 ] || return 1
    sleep 0.05
  done
  tail -n 1 "$NETNS_DIR/delayline.jsonl"
}

# netns_loss NS PERMILLE: drop that share of the TCP and UDP packets entering NS (0: none).
netns_loss() {
  ip netns exec "$1" nft delete table inet ripploss 2>/dev/null || true
  [ "$2" -gt 0 ] || return 0
  ip netns exec "$1" nft -f - <<NFT
table inet ripploss {
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    meta l4proto { tcp, udp } numgen random mod 1000 < $2 counter drop
  }
}
NFT
}

# netns_loss_both PERMILLE: the same loss in both directions (entering A and entering B).
netns_loss_both() {
  netns_loss "$NS_A" "$1" && netns_loss "$NS_B" "$1"
}

# netns_loss_dropped NS: packets dropped so far by netns_loss in NS.
netns_loss_dropped() {
  ip netns exec "$1" nft list table inet ripploss 2>/dev/null |
    sed -n 's/.*counter packets \([0-9]*\) .*/\1/p' | head -n 1 | grep . || echo 0
}

# netns_rtt: UDP round trip A -> B -> A through the path (N probes); JSON on stdout.
netns_rtt() {
  ip netns exec "$NS_B" "$UDPBASE" echo --bind $ADDR_B:7999 --seconds 30 \
    >"$NETNS_DIR/echo.json" 2>&1 &
  epid=$!
  sleep 0.2
  ip netns exec "$NS_A" "$UDPBASE" ping --to $ADDR_B:7999 --count "${1:-10}" --interval-ms 50
  rc=$?
  kill -TERM "$epid" 2>/dev/null
  wait "$epid" 2>/dev/null
  return $rc
}
