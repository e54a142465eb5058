#!/usr/bin/env bash
# The JavaScript client's checks (clients/js): tsc --strict over its sources,
# the committed .d.ts files are what tsc makes of them and type-check a
# TypeScript consumer, the page type-checks against it, then its tests with
# Node's test runner (unit, fake-socket, and against the example server and a
# three-node cluster on the local MariaDB, Redis and RabbitMQ).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --example server
export MYROOM_SERVER_BIN="$PWD/target/debug/examples/server"

cd clients/js
npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
# What a TypeScript application sees through the committed .d.ts files.
npx tsc -p tsconfig.consumer.json
# The page (web/) against the library it is built on (not strict: DOM code).
npx tsc -p ../../web/tsconfig.json
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
npx tsc -p tsconfig.types.json --outDir "$fresh"
if ! diff -r types "$fresh" >/dev/null; then
  echo "js-tests: clients/js/types/ is out of date: run 'npm run types' in clients/js" >&2
  diff -r types "$fresh" >&2 || true
  exit 1
fi
# Node 20 has WebSocket only behind the flag; later versions accept it too.
exec node --experimental-websocket --test --test-concurrency=1 test/*.test.js
