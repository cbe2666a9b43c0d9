# Calls across a lossy, delaying path between network namespaces (root only; otherwise the
# test reports itself skipped). h3 skips itself until the client speaks HTTP/3.
foreach(t h2 h3)
  ripp_it(loss_${t} sh ${IT}/call_loss.sh ${t} 20 20)
  set_tests_properties(it.loss_${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
