# rippd as a B2BUA: ripp -> rippd (bridge:URL) -> rippd (the callee), one test per case.
foreach(c echo dtmf reject failed noanswer callee_end cancel unreachable bad_token far_killed caller_killed near_sigterm config)
  ripp_it(bridge_${c} sh ${IT}/bridge.sh ${c})
endforeach()
