#!/usr/bin/env bash
# The crowd scenarios of BENCHMARKS.md against a three-node local cluster
# (MariaDB, Redis and RabbitMQ already running): clients spread round-robin
# over the three nodes, so the room is hosted on one node and relayed by the
# other two. All three nodes are pinned to core 0, the load generator to
# core 1: CPU figures are indicative only.
#
#   scripts/bench-cluster.sh                       # crowd, crowd-batch, crowd200-batch, reconnect
#   (reconnect: 50 users opted into resume drop their sockets at once and
#   each resumes its seat on the next node)
#   DURATION=20 scripts/bench-cluster.sh crowd
#
# Env: OUT (target/bench-cluster), BASE_PORT (18300), DURATION, WARMUP,
# MYSQL (mysql://root@127.0.0.1:3306), REDIS, AMQP, DB (myroom_bench),
# NODE_CORE (0), LOADGEN_CORE (1), NO_BUILD=1, SERVER (another server binary).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-target/bench-cluster}
BASE_PORT=${BASE_PORT:-18300}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
MYSQL=${MYSQL:-mysql://root@127.0.0.1:3306}
REDIS=${REDIS:-redis://127.0.0.1:6379}
AMQP=${AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
DB=${DB:-myroom_bench}
NODE_CORE=${NODE_CORE:-0}
LOADGEN_CORE=${LOADGEN_CORE:-1}
SECRET=myroom-bench-secret-not-for-production
FIXTURES=/tmp/bench-cluster-users.json
SERVER=${SERVER:-target/release/examples/server}
LOADGEN=target/release/examples/loadgen
TICKS=$(getconf CLK_TCK)

ALL=(crowd:crowd:0 crowd-batch:crowd:1 crowd200-batch:crowd200:1 reconnect:reconnect:0)
RUNS=()
if [ $# -gt 0 ]; then
    for want in "$@"; do
        for run in "${ALL[@]}"; do [ "${run%%:*}" = "$want" ] && RUNS+=("$run"); done
    done
else
    RUNS=("${ALL[@]}")
fi

[ -z "${NO_BUILD:-}" ] && cargo build --release --example server --example loadgen
mkdir -p "$OUT"
mariadb -u root -e "create database if not exists $DB"
"$LOADGEN" --write-fixtures "$FIXTURES" --users 250

pids=()
stop_nodes() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap stop_nodes EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for run in "${RUNS[@]}"; do
    IFS=: read -r name scenario batch <<<"$run"
    prefix="bench$RANDOM"
    urls=()
    for n in 1 2 3; do
        port=$((BASE_PORT + n))
        data=$(mktemp -d /tmp/bench-data.XXXXXX)
        RUST_LOG=warn taskset -c "$NODE_CORE" "$SERVER" --listen "127.0.0.1:$port" --node-id "n$n" \
            --jwt-secret "$SECRET" --fixtures "$FIXTURES" --data "$data" --key-prefix "$prefix" \
            --mysql "$MYSQL/$DB" --redis "$REDIS" --amqp "$AMQP" \
            --room-capacity 250 --rate 100 --rate-burst 200 >"$OUT/$name.n$n.log" 2>&1 &
        pids+=($!)
        urls+=("ws://127.0.0.1:$port/library")
        # Nodes one at a time: each seeds the fixtures into MySQL.
        for _ in $(seq 300); do
            curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    extra=()
    [ "$batch" = 1 ] && extra+=(--batch)
    echo "== $name (nodes ${pids[*]})" >&2
    (
        sleep $((WARMUP + 3))
        before=(); for pid in "${pids[@]}"; do before+=("$(cpu_ticks "$pid")"); done
        sleep "$DURATION"
        line=""
        for i in 0 1 2; do
            after=$(cpu_ticks "${pids[$i]}")
            rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[$i]}/status")
            pct=$(awk -v a="$after" -v b="${before[$i]}" -v t="$TICKS" -v d="$DURATION" 'BEGIN {printf "%.1f", (a-b)/t/d*100}')
            line+="n$((i + 1)) ${pct}% ${rss}kB  "
        done
        echo "$line" >"$OUT/$name.nodes.txt"
    ) &
    sampler=$!
    taskset -c "$LOADGEN_CORE" "$LOADGEN" --scenario "$scenario" --url "$(IFS=,; echo "${urls[*]}")" \
        --jwt-secret "$SECRET" --duration "$DURATION" --warmup "$WARMUP" --server-pid "${pids[0]}" \
        --out "$OUT/$name.json" "${extra[@]}" >/dev/null
    wait "$sampler" || true
    stop_nodes
done

for run in "${RUNS[@]}"; do
    name=${run%%:*}
    python3 - "$OUT/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["own_move_latency_ms"]
print(f"{sys.argv[2]:16} moves/s {r['moves_per_s']:.0f} upd/s {r['updates_per_s']:.0f} of {r['updates_expected_per_s']:.0f} "
      f"deliv {r['delivered_vs_sent']:.3f} p50 {l['p50']:.2f} p90 {l['p90']:.2f} p99 {l['p99']:.2f} max {l['max']:.2f} "
      f"entered {r['entered']} errors {r['errors_in_window']} disconnects {r['disconnects']}")
if "reconnect" in r:
    x = r["reconnect"]
    print(f"{'':16} resume on the next node: {x['clients']} clients all answered in {x['all_answered_ms']} ms "
          f"(p50 {x['answer_ms']['p50']} ms, max {x['answer_ms']['max']} ms) {x['outcomes']}")
PY
    echo "                 cpu (% of one core) / RSS over the window: $(cat "$OUT/$name.nodes.txt" 2>/dev/null)"
done
