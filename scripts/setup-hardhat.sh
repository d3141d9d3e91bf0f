#!/usr/bin/env bash
# Install a pinned hardhat node (npm registry) into the project-local folder .hardhat/ (idempotent).
# Used by the ledger test fixture for the JSON-RPC engine and by anyone who wants a local dev node:
#   scripts/setup-hardhat.sh && .hardhat/node_modules/.bin/hardhat --config .hardhat/hardhat.config.js node
# Prints the path of the hardhat binary on its last line.
set -euo pipefail
HARDHAT_VERSION="${HARDHAT_VERSION:-2.29.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${HARDHAT_DIR:-$ROOT/.hardhat}"
BIN="$DIR/node_modules/.bin/hardhat"
command -v node >/dev/null || { echo "setup-hardhat: node is not installed" >&2; exit 3; }
command -v npm >/dev/null || { echo "setup-hardhat: npm is not installed" >&2; exit 3; }
mkdir -p "$DIR"
# parallel test workers may call this at once: one installs, the others wait
if command -v flock >/dev/null; then
  exec 9>"$DIR/.install.lock"
  flock 9
fi
if [ ! -f "$DIR/package.json" ]; then
  printf '{"name": "transactive-hardhat", "private": true}\n' > "$DIR/package.json"
fi
if [ ! -f "$DIR/hardhat.config.js" ]; then
  # chainId 31337, cancun hardfork (the contracts are compiled for cancun), automine.
  cat > "$DIR/hardhat.config.js" <<'JS'
module.exports = { networks: { hardhat: { chainId: 31337, hardfork: "cancun", allowUnlimitedContractSize: false } } };
JS
fi
installed=""
if [ -x "$BIN" ] && [ -f "$DIR/node_modules/hardhat/package.json" ]; then
  installed="$(node -p "require('$DIR/node_modules/hardhat/package.json').version")"
fi
if [ "$installed" != "$HARDHAT_VERSION" ]; then
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "hardhat@$HARDHAT_VERSION" >&2
fi
echo "$BIN"
