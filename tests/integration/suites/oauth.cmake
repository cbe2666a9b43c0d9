# OAuth 2.0 trunk provisioning (SPEC §6.2): a provider and a consumer rippd, `ripp trunk`,
# and an independent node OAuth client checking every refusal beside a healthy call.
ripp_it(provision sh ${IT}/provision.sh)
ripp_it(inbound sh ${IT}/inbound.sh)
