#!/usr/bin/env bash
# The project's test command (README "Test"): start (or install) the backing
# services, run every test of the workspace against them, then the JavaScript
# client's checks and tests, then the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "[test] installing cargo-nextest" >&2
  cargo install cargo-nextest --locked
fi
# nextest (settings in .config/nextest.toml) gives each test its own process
# and kills one that hangs after five minutes, naming it.
cargo nextest run --workspace --all-targets
cargo test --workspace --doc
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "[test] installing node and npm for the browser tests" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
./scripts/js-tests.sh
./scripts/browser-tests.sh
