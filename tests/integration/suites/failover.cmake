# Calls that survive (docs/failover.md): graceful migration between two rippd instances on
# one SQLite store (drain by POST /admin/drain and by SIGUSR1; HTTP/2 and HTTP/3), an
# instance killed and restarted on its port, and the crash or the drain of
# an instance behind HAProxy (Redis store; skipped, 77, when redis-server, haproxy or socat
# is missing): 6 calls, and 50 (with the reconnect storm measured on the crash; the drain
# checks that every frame reaches r1 or r2 exactly once).
ripp_it(drain_admin sh ${IT}/drain.sh admin)
ripp_it(drain_sigusr1 sh ${IT}/drain.sh sigusr1)
# the same over HTTP/3, and the crash of an instance restarted in place (no balancer: the
# clients reconnect to the same authority) over both transports
ripp_it(drain_admin_h3 sh ${IT}/drain.sh admin 10 8 h3)
ripp_it(restart_h2 sh ${IT}/drain.sh restart 10 8 h2)
ripp_it(restart_h3 sh ${IT}/drain.sh restart 10 8 h3)
ripp_it(failover_crash sh ${IT}/failover.sh crash)
ripp_it(failover_crash_50 sh ${IT}/failover.sh crash 50 10)
ripp_it(failover_drain_50 sh ${IT}/failover.sh drain 50 10)
set_tests_properties(it.failover_crash it.failover_crash_50 it.failover_drain_50
                     PROPERTIES SKIP_RETURN_CODE 77)
