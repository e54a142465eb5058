#!/usr/bin/env bash
# Run every load scenario of BENCHMARKS.md: the server pinned to core 0, the
# load generator to core 1, a fresh server per run, results as JSON.
#
#   scripts/bench.sh                 # all scenarios, 5 s warm-up + 20 s measured
#   DURATION=60 WARMUP=10 scripts/bench.sh crowd many   # a subset, longer
#
# Env: OUT (results dir, default target/bench-results), PORT (18210),
# DURATION, WARMUP, CONNECTIONS (conn scenario, 10000), SERVER_CORE (0),
# LOADGEN_CORE (1), TICK_MS (25), NO_BUILD=1 to skip the release build,
# SERVER (another server binary to measure, e.g. a patched build),
# NOFILE (open-file limit of both processes, default the hard limit),
# SOURCE_IPS (conn scenario: clients spread over 127.0.0.1..N, default 32,
# so no address runs out of ephemeral ports or over the per-IP cap).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-target/bench-results}
PORT=${PORT:-18210}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-10000}
SERVER_CORE=${SERVER_CORE:-0}
LOADGEN_CORE=${LOADGEN_CORE:-1}
TICK_MS=${TICK_MS:-25}
SOURCE_IPS=${SOURCE_IPS:-32}
SECRET=myroom-bench-secret-not-for-production
FIXTURES=/tmp/bench-users.json
SERVER=${SERVER:-target/release/examples/server}
LOADGEN=target/release/examples/loadgen

# name:scenario:batch[:resume] (resume: every client opts into PROTOCOL.md §9)
ALL=(crowd:crowd:0 crowd-batch:crowd:1 crowd200-batch:crowd200:1 crowd200:crowd200:0
     many:many:0 many-batch:many:1 conn:conn:0
     crowd-resume:crowd:0:1 crowd-batch-resume:crowd:1:1 crowd200-batch-resume:crowd200:1:1
     many-resume:many:0:1 reconnect:reconnect:0:1)
if [ $# -gt 0 ]; then
    RUNS=()
    for want in "$@"; do
        for run in "${ALL[@]}"; do
            [ "${run%%:*}" = "$want" ] && RUNS+=("$run")
        done
    done
else
    RUNS=("${ALL[@]}")
fi

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --example server --example loadgen
fi
mkdir -p "$OUT"
# 10,000 sockets need 10,000 descriptors on each side. NOFILE raises the
# limit for both processes (root may raise the hard limit too).
if [ -n "${NOFILE:-}" ]; then
    ulimit -Hn "$NOFILE" 2>/dev/null || true
fi
ulimit -n "${NOFILE:-$(ulimit -Hn)}" 2>/dev/null || true
echo "open files limit: $(ulimit -n)" >&2

users=$CONNECTIONS
[ "$users" -lt 250 ] && users=250
"$LOADGEN" --write-fixtures "$FIXTURES" --users "$users"

server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap stop_server EXIT

for run in "${RUNS[@]}"; do
    IFS=: read -r name scenario batch resume <<<"$run"
    data=$(mktemp -d /tmp/bench-data.XXXXXX)
    RUST_LOG=warn taskset -c "$SERVER_CORE" "$SERVER" --listen "127.0.0.1:$PORT" --jwt-secret "$SECRET" \
        --fixtures "$FIXTURES" --room-capacity 250 --data "$data" --rate 100 --rate-burst 200 \
        --tick-ms "$TICK_MS" >"$OUT/$name.server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
    extra=()
    [ "$batch" = 1 ] && extra+=(--batch)
    [ "${resume:-0}" = 1 ] && extra+=(--resume)
    [ "$scenario" = conn ] && extra+=(--connections "$CONNECTIONS" --connect-concurrency 256 --source-ips "$SOURCE_IPS")
    echo "== $name (server pid $server_pid, idle RSS ${idle_rss} kB)" >&2
    taskset -c "$LOADGEN_CORE" "$LOADGEN" --scenario "$scenario" --url "ws://127.0.0.1:$PORT/library" \
        --jwt-secret "$SECRET" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$server_pid" \
        --out "$OUT/$name.json" "${extra[@]}" >/dev/null
    stop_server
    rm -rf "$data"
done

python3 - "$OUT" "${RUNS[@]}" <<'PY'
import json, sys
out, runs = sys.argv[1], sys.argv[2:]
print(f"{'run':16} {'moves/s':>8} {'upd/s':>9} {'expected':>9} {'deliv':>6} {'p50':>7} {'p90':>7} "
      f"{'p99':>7} {'max':>7} {'cpu%(user)':>12} {'rssMB':>7} {'entered':>7} errors/disconnects")
for run in runs:
    name = run.split(":")[0]
    try:
        r = json.load(open(f"{out}/{name}.json"))
    except OSError:
        print(f"{name:16} (no result)")
        continue
    l, s = r["own_move_latency_ms"], r.get("server") or {}
    print(f"{name:16} {r['moves_per_s']:8.0f} {r['updates_per_s']:9.0f} {r['updates_expected_per_s']:9.0f} "
          f"{r['delivered_vs_sent']:6.3f} {l['p50']:7.2f} {l['p90']:7.2f} {l['p99']:7.2f} {l['max']:7.2f} "
          f"{s.get('cpu_pct_of_one_core') or 0:6.1f}({s.get('cpu_user_pct') or 0:.1f}u) {s.get('rss_mb') or 0:7.1f} {r['entered']:7} "
          f"{r['errors_in_window']} {r['disconnects']}")
    if "reconnect" in r:
        x = r["reconnect"]
        print(f"{'':16} resume: {x['clients']} clients all answered in {x['all_answered_ms']} ms "
              f"(p50 {x['answer_ms']['p50']} ms, max {x['answer_ms']['max']} ms) {x['outcomes']}")
PY
