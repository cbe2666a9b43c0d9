# Harness of the cluster tests (POSIX sh, sourced after lib.sh): a redis-server on a unix
# socket, rippd instances on 127.0.0.1 sharing it as their store, each with the same trunk,
# token, caller identity key and certificate, and HAProxy (deploy/haproxy.cfg, TLS h2) or
# nginx (deploy/nginx.conf, grpc_pass) in front. Everything is stopped on exit.
DEPLOY=${RIPP_DEPLOY:-$HERE/../../deploy}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
NGINX=${NGINX:-/usr/sbin/nginx}
CL_PIDS=""
CL_TRUNK_ID=cluster-trunk

cl_cleanup() {
  CL_PIDS="$(cl_slot_pids) $CL_PIDS"
  for p in $CL_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in $CL_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  cleanup
}
trap cl_cleanup EXIT

cl_need() { for b in "$@"; do [ -x "$b" ] || { echo "skip: no $b"; exit 77; }; done; }

# cl_port: a free TCP port on 127.0.0.1 (the kernel's choice, released at once).
cl_port() {
  node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# cl_wait SECONDS CMD...: until CMD succeeds; returns 1 on timeout.
cl_wait() {
  n=$(($1 * 10))
  shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    n=$((n - 1))
    sleep 0.1
  done
  return 1
}

# cl_pki: the certificate of every instance and of the balancer (localhost, 127.0.0.1), the
# callers' identity key pair and the trunk token.
cl_pki() {
  mkdir -p "$T/pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/pki/key.pem" -out "$T/pki/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 || fail "openssl req"
  cat "$T/pki/cert.pem" "$T/pki/key.pem" >"$T/pki/lb.pem"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/pki/id.pem" \
    >/dev/null 2>&1 || fail "openssl genpkey"
  openssl pkey -in "$T/pki/id.pem" -pubout -out "$T/pki/id.pub.pem" 2>/dev/null ||
    fail "openssl pkey"
  CA="$T/pki/cert.pem"
  KEY="$T/pki/id.pem"
  TOKEN=$(openssl rand -hex 24)
}

# cl_redis: redis-server on $T/redis/redis.sock; sets STORE (the --db value) and
# REDIS_PID. With CL_REDIS_AOF=1 it keeps an append-only file in $T/redis (fsync at every
# write), so that cl_redis_start after a kill finds the data again.
cl_redis() {
  mkdir -p "$T/redis"
  SOCK="$T/redis/redis.sock"
  cl_redis_start
  STORE="unix:$SOCK"
}

# cl_redis_start: (re)starts redis-server on the same socket and directory; waits for PONG.
cl_redis_start() {
  if [ "${CL_REDIS_AOF:-0}" = 1 ]; then
    aof="--appendonly yes --appendfsync always"
  else
    aof="--appendonly no"
  fi
  # shellcheck disable=SC2086
  "$REDIS_SERVER" --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
    $aof --dir "$T/redis" --daemonize no >>"$T/redis.log" 2>&1 &
  REDIS_PID=$!
  CL_PIDS="$CL_PIDS $REDIS_PID"
  cl_wait 10 sh -c "[ \"\$(redis-cli -s '$SOCK' PING 2>/dev/null)\" = PONG ]" ||
    fail "redis-server did not start"
}

# cl_redis_kill: SIGKILL to redis-server, and wait until it is gone.
cl_redis_kill() {
  kill -KILL "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
}

# cl_config NAME: the configuration file every instance is started with (identical but for
# the name; one trunk that echoes). With CL_ADMIN_TOKEN set, it is the "admin_token"
# (POST /admin/drain).
cl_config() {
  adm=""
  [ -z "${CL_ADMIN_TOKEN:-}" ] || adm="\"admin_token\": \"$CL_ADMIN_TOKEN\","
  cat >"$T/$1.conf.json" <<JSON
{ $adm
  "cert": "$T/pki/cert.pem",
  "key": "$T/pki/key.pem",
  "log_level": "info",
  "trunks": [
    {"id": "$CL_TRUNK_ID", "tokens": ["$TOKEN"], "answer": "echo",
     "identity_key": "$T/pki/id.pub.pem"}
  ]
}
JSON
}

# cl_rippd NAME PORT [ARGS...]: an instance on 127.0.0.1:PORT (h2 only: HAProxy and nginx do
# not carry HTTP/3) on the shared store; its log is $T/NAME.log, its maintenance file
# $T/NAME.maint; sets PID_<NAME>. Waits until it listens.
cl_rippd() {
  cl_config "$1"
  cl_start "$@"
}

# cl_start NAME PORT [ARGS...]: cl_rippd with the configuration $T/NAME.conf.json as it is.
cl_start() {
  name=$1 port=$2
  shift 2
  bin=${CL_RIPPD:-$RIPPD}
  RIPPD_MAINTENANCE_FILE="$T/$name.maint" "$bin" --config "$T/$name.conf.json" \
    --listen 127.0.0.1 --port "$port" --no-h3 --db "$STORE" "$@" >"$T/$name.out" \
    2>"$T/$name.log" &
  pid=$!
  CL_PIDS="$CL_PIDS $pid"
  eval "PID_$name=$pid"
  i=0
  until grep -q "listening on" "$T/$name.log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "rippd $name did not start"
    kill -0 "$pid" 2>/dev/null || fail "rippd $name exited at start"
    sleep 0.1
  done
}

# cl_haproxy: HAProxy with deploy/haproxy.cfg as it is; sets LB_PORT, LB_PORT_S1..4, TRUNK
# and exports RIPP_LB_ADMIN for deploy/lbctl.sh.
cl_haproxy() {
  LB_PORT=$(cl_port)
  LB_PORT_S1=$(cl_port) LB_PORT_S2=$(cl_port) LB_PORT_S3=$(cl_port) LB_PORT_S4=$(cl_port)
  export RIPP_LB_ADDR=127.0.0.1 RIPP_LB_PORT=$LB_PORT RIPP_LB_PORT_S1=$LB_PORT_S1 \
    RIPP_LB_PORT_S2=$LB_PORT_S2 RIPP_LB_PORT_S3=$LB_PORT_S3 RIPP_LB_PORT_S4=$LB_PORT_S4 \
    RIPP_LB_CERT="$T/pki/lb.pem" RIPP_BACKEND_CA="$T/pki/cert.pem" \
    RIPP_LB_ADMIN="$T/haproxy.sock" RIPP_READYZ_CHECK="$T/readyz-check.sh"
  # HAProxy runs checks with an empty environment: the wrapper names the CA
  printf '#!/bin/sh\nRIPP_BACKEND_CA=%s exec %s "$@"\n' "$T/pki/cert.pem" \
    "$DEPLOY/readyz-check.sh" >"$RIPP_READYZ_CHECK"
  chmod +x "$RIPP_READYZ_CHECK"
  "$HAPROXY" -c -q -f "$DEPLOY/haproxy.cfg" >"$T/haproxy-check.log" 2>&1 ||
    fail "haproxy -c: $(cat "$T/haproxy-check.log")"
  "$HAPROXY" -db -f "$DEPLOY/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  CL_PIDS="$CL_PIDS $HAPROXY_PID"
  cl_wait 10 test -S "$RIPP_LB_ADMIN" || fail "haproxy did not start"
  TRUNK="https://localhost:$LB_PORT/trunks/$CL_TRUNK_ID"
}

lbctl() { sh "$DEPLOY/lbctl.sh" "$@"; }

# cl_call OUT [ARGS...]: a call through $TRUNK (h2), 2 s of audio unless told otherwise;
# returns ripp's exit status.
cl_call() {
  out=$1
  shift
  st=0
  timeout 60 "$RIPP" call --transport h2 --trunk "$TRUNK" --token "$TOKEN" --ca "$CA" \
    --identity-key "$KEY" --to +14085551212 --from +14085550100 --duration 2 "$@" \
    >"$out" 2>"$out.log" || st=$?
  return $st
}

# cl_calls N PARALLEL PREFIX [ARGS...]: N calls, PARALLEL at a time: $T/PREFIX.<i>.jsonl.
cl_calls() {
  n=$1 par=$2 prefix=$3
  shift 3
  i=1
  while [ "$i" -le "$n" ]; do
    pids=""
    j=0
    while [ "$j" -lt "$par" ] && [ "$i" -le "$n" ]; do
      cl_call "$T/$prefix.$i.jsonl" "$@" &
      pids="$pids $!"
      i=$((i + 1))
      j=$((j + 1))
    done
    for p in $pids; do wait "$p" || true; done
  done
}

# cl_check_call FILE: answered, ended normally, every frame sent was acked, none lost.
cl_check_call() {
  f=$1
  [ -s "$f" ] || fail "$f: no output ($(tail -n 3 "$f.log" 2>/dev/null))"
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
    const s = JSON.parse(lines[lines.length - 1]);
    const bad = [];
    if (s.answered !== true) bad.push("not answered");
    if (s.outcome !== "ended_local") bad.push("outcome " + s.outcome);
    if (!(s.sent > 0) || s.sent !== s.acked) bad.push("sent " + s.sent + " acked " + s.acked);
    if (s.lost !== 0) bad.push("lost " + s.lost);
    if (!(s.rx_frames > 0)) bad.push("rx_frames " + s.rx_frames);
    if (bad.length) { console.log(bad.join(", ")); process.exit(1); }
  ' "$f" >"$T/check.out" 2>&1 || fail "$f: $(cat "$T/check.out")"
}

# cl_served_by ID NAMES...: the one instance whose log shows call ID created; fails when
# none or several did, or when another instance saw any request for the call.
cl_served_by() {
  id=$1
  shift
  who=""
  for nm in "$@"; do
    if grep -q "call $id created on trunk" "$T/$nm.log"; then
      [ -z "$who" ] || fail "call $id created on $who and on $nm"
      who=$nm
    fi
  done
  [ -n "$who" ] || fail "call $id created on no instance"
  for nm in "$@"; do
    [ "$nm" = "$who" ] && continue
    ! grep -q "$id" "$T/$nm.log" || fail "call $id of $who seen by $nm: $(grep "$id" "$T/$nm.log" | head -3)"
  done
  echo "$who"
}

# cl_cluster_env: a deploy/cluster.env for deploy/slot.sh and rolling-upgrade.sh (cookie
# style): instances log to $T/run/<slot>.log; cl_served_by works with the slot names.
cl_cluster_env() {
  mkdir -p "$T/run"
  cat >"$T/cluster.env" <<ENV
RIPPD_BIN=$RIPPD
RIPPD_ARGS="--config $T/slot.conf.json --listen 127.0.0.1 --no-h3 --db $STORE"
RIPP_RUN_DIR=$T/run
RIPP_STYLE=cookie
RIPP_PUBLIC_HOST=localhost
RIPP_PORT_S1=$(cl_port) RIPP_PORT_S2=$(cl_port) RIPP_PORT_S3=$(cl_port) RIPP_PORT_S4=$(cl_port)
RIPP_LB_PORT_S1=$LB_PORT_S1 RIPP_LB_PORT_S2=$LB_PORT_S2 RIPP_LB_PORT_S3=$LB_PORT_S3 RIPP_LB_PORT_S4=$LB_PORT_S4
RIPP_LB_ADMIN=$RIPP_LB_ADMIN
RIPP_BACKEND_CA=$T/pki/cert.pem
RIPP_READY_TIMEOUT=20
RIPP_DRAIN_TIMEOUT=60
ENV
  cl_config slot
  export RIPP_CLUSTER_ENV="$T/cluster.env"
  for s in s1 s2 s3 s4; do ln -sf "$T/run/$s.log" "$T/$s.log"; done
  CL_RUN_DIR="$T/run"
}

# the instances deploy/slot.sh started
cl_slot_pids() { cat "${CL_RUN_DIR:-/nonexistent}"/*.pid 2>/dev/null || true; }

# cl_nginx PORT1 PORT2: nginx with deploy/nginx.conf in front of two instances on
# 127.0.0.1:PORT1 and :PORT2 (weights 1:1); sets NG_PORT, NG_PORT_S1, NG_PORT_S2 and TRUNK.
cl_nginx() {
  NG_PORT=$(cl_port)
  NG_PORT_S1=$(cl_port)
  NG_PORT_S2=$(cl_port)
  mkdir -p "$T/nginx"
  sed -e "s|@LISTEN@|127.0.0.1:$NG_PORT|g; s|@LISTEN_S1@|127.0.0.1:$NG_PORT_S1|g" \
    -e "s|@LISTEN_S2@|127.0.0.1:$NG_PORT_S2|g; s|@CERT@|$T/pki/cert.pem|g; s|@KEY@|$T/pki/key.pem|g" \
    -e "s|@BACKEND_CA@|$T/pki/cert.pem|g; s|@BACKEND_NAME@|localhost|g" \
    -e "s|@S1@|127.0.0.1:$1|g; s|@S2@|127.0.0.1:$2|g; s|@W1@|1|g; s|@W2@|1|g; s|@PREFIX@|$T/nginx|g" \
    "$DEPLOY/nginx.conf" >"$T/nginx/nginx.conf"
  ! grep -v '^ *#' "$T/nginx/nginx.conf" | grep -q '@[A-Z0-9_]*@' || fail "nginx.conf: a placeholder is left"
  "$NGINX" -t -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' >"$T/nginx-t.log" 2>&1 ||
    fail "nginx -t: $(cat "$T/nginx-t.log")"
  "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' >"$T/nginx.log" 2>&1 &
  CL_PIDS="$CL_PIDS $!"
  cl_wait 10 test -s "$T/nginx/nginx.pid" || fail "nginx did not start"
  TRUNK="https://localhost:$NG_PORT/trunks/$CL_TRUNK_ID"
}
