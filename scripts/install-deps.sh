#!/bin/sh
# Installs the Debian 12 packages that ripp needs to build, test and run its demo.
# Idempotent: does nothing when everything is present. Needs root (or sudo) when
# something is missing.
set -eu

PKGS="build-essential cmake pkg-config git ca-certificates
libgnutls28-dev gnutls-bin libnghttp2-dev nghttp2-client libuv1-dev libjansson-dev
libopus-dev libspandsp-dev libsndfile1-dev libsqlite3-dev sqlite3
libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev libtasn1-6-dev
ngtcp2-client ngtcp2-server nftables iproute2 secsipidx
libhiredis-dev redis-server
libcmocka-dev clang-14 libfuzzer-14-dev libclang-rt-14-dev nodejs procps
haproxy nginx-light socat curl"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
