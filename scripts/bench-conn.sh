#!/usr/bin/env bash
# The conn scenario (N idle sockets in rooms of 4) against two server builds,
# interleaved (A B, then B A, ...), through scripts/bench.sh; then a table.
#
#   git worktree add ../myroom-before beed6fb
#   (cd ../myroom-before && cargo build --release --example server)
#   cargo build --release --example server --example loadgen
#   BEFORE=../myroom-before/target/release/examples/server scripts/bench-conn.sh 2000 10000 20000
#
# Env: BEFORE (required), AFTER (default target/release/examples/server),
# ROUNDS (2), OUT (target/bench-conn), DURATION (30 s idle, measured),
# WARMUP (5), NOFILE, SOURCE_IPS: as in bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${BEFORE:?set BEFORE to the server binary to compare with}
AFTER=${AFTER:-target/release/examples/server}
ROUNDS=${ROUNDS:-2}
OUT=${OUT:-target/bench-conn}
export DURATION=${DURATION:-30} WARMUP=${WARMUP:-5} NO_BUILD=1
[ $# -gt 0 ] || set -- 2000 10000 20000

for n in "$@"; do
    for round in $(seq "$ROUNDS"); do
        order=(before after)
        [ $((round % 2)) = 0 ] && order=(after before)
        for side in "${order[@]}"; do
            bin=$AFTER
            [ "$side" = before ] && bin=$BEFORE
            echo "== conn $n, round $round, $side ($bin)" >&2
            OUT="$OUT/$side-$n-$round" SERVER="$bin" CONNECTIONS="$n" scripts/bench.sh conn >/dev/null
        done
    done
done

python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(f"{out}/*/conn.json")):
    side, n, rnd = os.path.basename(os.path.dirname(path)).split("-")
    r = json.load(open(path))
    s = r.get("server") or {}
    c, t = r["connect_enter_ms"], r["connect_enter_per_s_by_second"]
    errors = {k: v for k, v in r["errors_total"].items()}
    rows.append((int(n), int(rnd), side, r["entered"], r["connect_enter_per_s"], t.get("p10"), t.get("p50"),
                 c["p50"], c["p99"], r.get("server_rss_per_entered_kb"), s.get("rss_mb"),
                 s.get("cpu_user_s"), s.get("cpu_sys_s"), s.get("window_s"), errors))
print(f"{'N':>6} {'rnd':>3} {'build':6} {'entered':>7} {'conn/s':>7} {'p10/s':>6} {'p50/s':>6} "
      f"{'lat p50':>7} {'lat p99':>7} {'KB/conn':>7} {'rssMB':>6} {'user s':>6} {'sys s':>6} {'window':>6}  errors")
for row in sorted(rows):
    n, rnd, side, entered, rate, p10, p50, l50, l99, kb, rss, us, ss, win, errors = row
    print(f"{n:6} {rnd:3} {side:6} {entered:7} {rate:7.0f} {p10 or 0:6.0f} {p50 or 0:6.0f} {l50:7.1f} {l99:7.1f} "
          f"{kb or 0:7.2f} {rss or 0:6.1f} {us or 0:6.2f} {ss or 0:6.2f} {win or 0:6.1f}  {errors}")
PY
