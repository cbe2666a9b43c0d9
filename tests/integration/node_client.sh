#!/bin/sh
# An independent client (node's http2) against rippd.
. "$(dirname "$0")/lib.sh"
start_rippd srv echo
node "$HERE/node_client.js" "$TRUNK" "$TOKEN" "$CA" "$KEY" || fail "node client"
stop_rippd "$RIPPD_PID"
pass "independent node http2 client"
