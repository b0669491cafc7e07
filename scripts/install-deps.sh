#!/usr/bin/env bash
# Installs what the tests need beyond Go: Node.js packages for the real-client
# tests (pinned by test/e2e/package-lock.json: ethers, solc, Anvil for the
# ots_ comparison, playwright-core and axe-core for the UI tests), Debian's
# chromium for the UI tests, the web UI's build tools (web/package-lock.json),
# and iproute2 for the network-namespace tests.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v ip >/dev/null || need_apt+=(iproute2)   # network-namespace tests
command -v chromium >/dev/null || need_apt+=(chromium)   # UI tests (Playwright drives it)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

if [ -f web/package.json ]; then   # the web UI's build (make ui, ui-check)
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f test/e2e/package.json ]; then
  (cd test/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
