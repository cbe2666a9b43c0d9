# A rippd cluster behind HAProxy and nginx (deploy/, docs/cluster.md): instances sharing a
# Redis store, real calls through the balancer. Skipped (77) when redis-server, haproxy,
# socat or nginx is missing.
# rolling_live: 10 calls up during the upgrade, all must survive.
foreach(c calls instance_uris weights readyz nginx rolling rolling_live)
  ripp_it(cluster_${c} sh ${IT}/cluster.sh ${c})
  set_tests_properties(it.cluster_${c} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
