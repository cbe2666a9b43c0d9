# Calls that survive (docs/failover.md): graceful migration between two rippd instances on
# one SQLite store (drain by POST /admin/drain and by SIGUSR1), and the crash of an instance
# behind HAProxy (Redis store; skipped, 77, when redis-server, haproxy or socat is missing).
ripp_it(drain_admin sh ${IT}/drain.sh admin)
ripp_it(drain_sigusr1 sh ${IT}/drain.sh sigusr1)
ripp_it(failover_crash sh ${IT}/failover.sh crash)
set_tests_properties(it.failover_crash PROPERTIES SKIP_RETURN_CODE 77)
