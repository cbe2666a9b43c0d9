# The Redis store under rippd: records and CDRs in a redis-server of the test's own, read
# back with redis-cli. Skipped (77) only when redis-server is not installed.
ripp_it(store_redis sh ${IT}/store_redis.sh)
set_tests_properties(it.store_redis PROPERTIES SKIP_RETURN_CODE 77)
