#!/usr/bin/env bash
# N clients from one address (the loadgen's 127.0.0.1), each connecting and
# entering a room of 4 (the conn scenario), then idling: through HAProxy
# (deploy/haproxy.cfg, as tests/e2e_gateway.rs runs it) in front of three
# cluster nodes, and straight to one node. Every node runs with defaults but
# the flags a deployment must give (secret, services, --trusted-proxies for
# the gateway's address); HAProxy connects from 127.0.0.9, so the clients'
# 127.0.0.1 is a real client address, not the trusted proxy's.
#
#   cargo build --release --example server --example loadgen
#   scripts/bench-gateway.sh                  # 2000 clients
#   CONNECTIONS=5000 scripts/bench-gateway.sh
#   PER_IP=1000 scripts/bench-gateway.sh      # the nodes with the old per-IP default
#
# Env: CONNECTIONS (2000), OUT (target/bench-gateway), BASE_PORT (18400),
# PER_IP (unset: the default), DB (myroom_bench_gw), MYSQL, REDIS, AMQP.
# Needs MariaDB, Redis, RabbitMQ running and haproxy installed (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-2000}
OUT=${OUT:-target/bench-gateway}
BASE_PORT=${BASE_PORT:-18400}
MYSQL=${MYSQL:-mysql://root@127.0.0.1:3306}
REDIS=${REDIS:-redis://127.0.0.1:6379}
AMQP=${AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
DB=${DB:-myroom_bench_gw}
SECRET=myroom-bench-secret-not-for-production
SERVER=${SERVER:-target/release/examples/server}
LOADGEN=target/release/examples/loadgen
FIXTURES=/tmp/bench-gateway-users.json
GATEWAY_PORT=$((BASE_PORT))
per_ip=()
[ -n "${PER_IP:-}" ] && per_ip=(--max-connections-per-ip "$PER_IP")

mkdir -p "$OUT"
mariadb -u root -e "create database if not exists $DB"
"$LOADGEN" --write-fixtures "$FIXTURES" --users "$((CONNECTIONS + 8))"

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap stop_all EXIT

wait_ready() {
    for _ in $(seq 300); do
        curl -sf "http://$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$1 not ready" >&2
    return 1
}

summary() { # name, json file
    python3 - "$1" "$2" <<'PY'
import json, sys
name, path = sys.argv[1:]
r = json.load(open(path))
print(f"{name}: {r['entered']} of {r['clients']} entered, {r['open_at_end']} open at the end, "
      f"connect+ENTER p50 {r['connect_enter_ms']['p50']} ms p99 {r['connect_enter_ms']['p99']} ms, "
      f"errors {r['errors_total']}")
PY
}

# 1. Through the gateway, three cluster nodes.
prefix="benchgw$RANDOM"
servers=()
for n in 1 2 3; do
    port=$((BASE_PORT + n))
    data=$(mktemp -d /tmp/bench-data.XXXXXX)
    RUST_LOG=warn "$SERVER" --listen "127.0.0.1:$port" --node-id "n$n" \
        --jwt-secret "$SECRET" --fixtures "$FIXTURES" --data "$data" --key-prefix "$prefix" \
        --mysql "$MYSQL/$DB" --redis "$REDIS" --amqp "$AMQP" \
        --trusted-proxies 127.0.0.9 \
        --advertise "ws://127.0.0.1:$GATEWAY_PORT/library?node={node}" "${per_ip[@]}" \
        >"$OUT/n$n.log" 2>&1 &
    pids+=($!)
    servers+=("127.0.0.1:$port")
    # One at a time: each seeds the fixtures into MySQL.
    wait_ready "127.0.0.1:$port"
done
python3 - deploy/haproxy.cfg "$GATEWAY_PORT" "${servers[@]}" >"$OUT/haproxy.cfg" <<'PY'
import sys
recipe, port, servers = sys.argv[1], sys.argv[2], sys.argv[3:]
for line in open(recipe).read().splitlines():
    t = line.strip()
    if t.startswith("log /dev/log"): line = "    log stdout format raw local0 err"
    elif t.startswith("bind :80"): line = f"    bind 127.0.0.1:{port}"
    elif t.startswith("maxconn "): line = "    maxconn 9000"   # under this machine's 20,000 open files
    elif t.startswith("default-server "): line += " source 127.0.0.9"
    elif t.startswith("server n"):
        name = t.split()[1]
        line = f"    server {name} {servers[int(name[1:]) - 1]}"
    print(line)
PY
haproxy -db -f "$OUT/haproxy.cfg" >"$OUT/haproxy.log" 2>&1 &
pids+=($!)
wait_ready "127.0.0.1:$GATEWAY_PORT"
"$LOADGEN" --scenario conn --url "ws://127.0.0.1:$GATEWAY_PORT/library" --jwt-secret "$SECRET" \
    --connections "$CONNECTIONS" --warmup 2 --duration 5 >"$OUT/gateway.json" 2>"$OUT/gateway.loadgen.log"
summary "through the gateway (3 nodes)" "$OUT/gateway.json"
stop_all

# 2. Straight to one node (embedded store), defaults.
data=$(mktemp -d /tmp/bench-data.XXXXXX)
RUST_LOG=warn "$SERVER" --listen "127.0.0.1:$((BASE_PORT + 9))" --jwt-secret "$SECRET" \
    --fixtures "$FIXTURES" --data "$data" "${per_ip[@]}" >"$OUT/single.log" 2>&1 &
pids+=($!)
wait_ready "127.0.0.1:$((BASE_PORT + 9))"
"$LOADGEN" --scenario conn --url "ws://127.0.0.1:$((BASE_PORT + 9))/library" --jwt-secret "$SECRET" \
    --connections "$CONNECTIONS" --warmup 2 --duration 5 >"$OUT/direct.json" 2>"$OUT/direct.loadgen.log"
summary "straight to one node" "$OUT/direct.json"
