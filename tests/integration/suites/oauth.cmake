# OAuth 2.0 trunk provisioning (SPEC §6.2): a provider and a consumer rippd, `ripp trunk`,
# and an independent node OAuth client checking every refusal beside a healthy call.
ripp_it(provision sh ${IT}/provision.sh)
ripp_it(inbound sh ${IT}/inbound.sh)
# The same end to end with verified PASSporTs in both directions: STIR on the provider's
# trunk template, the consumer trunk and the ingress trunk; outbound and inbound calls.
ripp_it(provision_stir sh ${IT}/inbound.sh stir)
