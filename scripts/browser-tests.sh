#!/usr/bin/env bash
# Browser tests of the web page (tests/browser/run.mjs): playwright-core drives
# Debian's Chromium. The browser comes from apt, never from a download: if
# /usr/bin/chromium is missing it is installed here. The tests build and start
# the example server themselves and save screenshots in tests/browser/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "browser-tests: installing Debian's chromium" >&2
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium
fi

cd tests/browser
# playwright-core has no browser-download step of its own; the variable makes
# sure nothing ever fetches one.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
exec node --test --test-concurrency=1 run.mjs
