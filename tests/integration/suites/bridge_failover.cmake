# A bridged call survives its bridging instance (docs/failover.md "Bridged calls"): two
# bridging instances on Redis behind HAProxy, a callee rippd; the first instance is killed
# (crash) or drained (drain). Skipped (77) when redis-server, haproxy or socat is missing.
ripp_it(bridge_failover sh ${IT}/bridge_failover.sh crash)
ripp_it(bridge_failover_drain sh ${IT}/bridge_failover.sh drain)
set_tests_properties(it.bridge_failover it.bridge_failover_drain PROPERTIES SKIP_RETURN_CODE 77)
