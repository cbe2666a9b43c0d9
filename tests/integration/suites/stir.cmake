# STIR: interop with secsipidx (sign and verify both ways, x5u over HTTPS on loopback).
ripp_it(stir_secsipidx sh ${IT}/stir_secsipidx.sh)
ripp_it(stir_call sh ${IT}/stir_call.sh)
