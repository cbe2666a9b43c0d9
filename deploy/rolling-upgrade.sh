#!/bin/sh
# rolling-upgrade.sh NEW_RIPPD - replaces every running instance of the cluster, one by one:
# the replacement starts in a free balancer slot with the new binary, must answer /readyz
# and pass HAProxy's check, takes the old instance's weight, and only then is the old one
# drained and stopped (deploy/slot.sh stop; with RIPP_ADMIN_TOKEN its calls are sent
# migrate to the replacement's own balancer route). The cluster is $RIPP_CLUSTER_ENV
# (cluster.env.example). Exits non-zero, leaving the old instance in place, when a
# replacement does not come up.
set -eu
[ $# -eq 1 ] && [ -x "$1" ] || { echo "usage: rolling-upgrade.sh NEW_RIPPD" >&2; exit 2; }
new=$1
: "${RIPP_CLUSTER_ENV:?RIPP_CLUSTER_ENV must name the cluster description}"
# shellcheck disable=SC1090
. "$RIPP_CLUSTER_ENV"
export RIPP_LB_ADMIN RIPP_BACKEND_CA
D=$(cd "$(dirname "$0")" && pwd)
old_slots=$("$D/slot.sh" list)
[ -n "$old_slots" ] || { echo "rolling-upgrade: no running instance" >&2; exit 1; }
for old in $old_slots; do
  slot=$("$D/lbctl.sh" free-slot)
  weight=$("$D/lbctl.sh" state "$old" | sed -n 's/.*weight=\([0-9]*\).*/\1/p')
  echo "rolling-upgrade: $old -> $slot (weight ${weight:-1})" >&2
  if ! "$D/slot.sh" start "$slot" "$new" "${weight:-1}"; then
    echo "rolling-upgrade: $slot did not come up; $old stays" >&2
    "$D/slot.sh" stop "$slot" || true
    exit 1
  fi
  "$D/slot.sh" stop "$old" "$slot"
done
echo "rolling-upgrade: done: $("$D/slot.sh" list | tr '\n' ' ')" >&2
