#!/bin/sh
# ripp caps prints the trunk's capability document; a wrong token is refused.
. "$(dirname "$0")/lib.sh"
start_rippd srv echo
ripp_caps "$T/caps.json" --token "$TOKEN" ||
  fail "ripp caps exited $?"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (c["audio/PCMA"] !== true || Object.keys(c).length !== 1) process.exit(1);
' "$T/caps.json" || fail "capabilities: $(cat "$T/caps.json")"
status=0
ripp_caps "$T/bad.json" --token wrong-token 2>"$T/bad.log" ||
  status=$?
[ $status -ne 0 ] || fail "a wrong token must fail"
grep -q '401' "$T/bad.log" || fail "no 401 reported: $(cat "$T/bad.log")"
stop_rippd "$RIPPD_PID"
pass "ripp caps: $(tr -d ' \n' <"$T/caps.json")"
