#!/usr/bin/env bash
# One-time, idempotent set-up of the real components the test suite starts on loopback:
# Debian's mosquitto, postgresql and chromium (apt-get, as root; chromium drives the web app's browser tests
# through Playwright, which never downloads a browser of its own) and a pinned hardhat node (npm, into .hardhat/)
# and axe-core (npm, into .axe/: the accessibility check of the browser tests).
# Run by `make test` before pytest so that parallel test workers never race for the package manager.
set -euo pipefail
cd "$(dirname "$0")/.."

have_pg() { command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; }
have_mosquitto() { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; }
have_chromium() { [ -x /usr/bin/chromium ]; }

missing=()
have_pg || missing+=(postgresql)
have_mosquitto || missing+=(mosquitto)
have_chromium || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: please install ${missing[*]} (Debian packages); not root, so not installing" >&2
  else
    echo "setup-system: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  fi
fi
if command -v npm >/dev/null 2>&1; then
  bash scripts/setup-hardhat.sh >/dev/null
  bash scripts/setup-axe.sh >/dev/null
else
  echo "setup-system: npm not found: the JSON-RPC chain tests will say so" >&2
fi
