# The Redis store under rippd: records and CDRs in a redis-server of the test's own, read
# back with redis-cli. Skipped (77) only when redis-server is not installed.
ripp_it(store_redis sh ${IT}/store_redis.sh)
set_tests_properties(it.store_redis PROPERTIES SKIP_RETURN_CODE 77)
# Redis going away under live calls (redis_chaos.sh, docs/failover.md): restarted from its
# append-only file, killed for a while, stopped by SIGSTOP. No call lost, every CDR written,
# new calls refused with 503 problem+json while it is away and answered after.
foreach(c restart down pause)
  ripp_it(redis_${c} sh ${IT}/redis_chaos.sh ${c})
  set_tests_properties(it.redis_${c} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
