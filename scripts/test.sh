#!/usr/bin/env bash
# The project's test command (README "Test"): start (or install) the backing
# services, then run every test of the workspace against them.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
