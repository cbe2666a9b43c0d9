#!/bin/sh
# readyz-check.sh - HAProxy external check of one rippd instance: GET /readyz over HTTP/2
# and TLS, healthy on 200 only. HAProxy 2.6 cannot run its own HTTP checks over h2 on TLS
# (the check connection opens and no request is sent: checked with 2.6.12), and rippd
# serves TLS only, so haproxy.cfg runs this script instead ("option external-check").
#
# HAProxy calls it with: PROXY_ADDR PROXY_PORT SERVER_ADDR SERVER_PORT (and sets
# HAPROXY_SERVER_ADDR/PORT). The instances' CA comes from RIPP_BACKEND_CA (haproxy.cfg
# passes it on with "setenv"); without it the certificate is not verified. The TLS name
# checked is RIPP_BACKEND_NAME (default localhost): the name in the instances' certificate.
addr=${3:-$HAPROXY_SERVER_ADDR}
port=${4:-$HAPROXY_SERVER_PORT}
name=${RIPP_BACKEND_NAME:-localhost}
case "$addr" in *:*) addr="[$addr]" ;; esac
if [ -n "${RIPP_BACKEND_CA:-}" ]; then
  tls="--cacert $RIPP_BACKEND_CA"
else
  tls="--insecure"
fi
# shellcheck disable=SC2086
code=$(curl --silent --http2 --max-time "${RIPP_CHECK_TIMEOUT:-2}" $tls \
  --resolve "$name:$port:$addr" --output /dev/null --write-out '%{http_code}' \
  "https://$name:$port/readyz") || exit 1
[ "$code" = 200 ]
