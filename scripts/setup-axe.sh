#!/usr/bin/env bash
# Install a pinned axe-core (npm registry) into the project-local folder .axe/ (idempotent). The web app's
# browser tests inject its axe.min.js into the page (Playwright, Debian's chromium) to check accessibility.
# Prints the path of axe.min.js on its last line.
set -euo pipefail
AXE_VERSION="${AXE_VERSION:-4.10.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${AXE_DIR:-$ROOT/.axe}"
JS="$DIR/node_modules/axe-core/axe.min.js"
command -v npm >/dev/null || { echo "setup-axe: npm is not installed" >&2; exit 3; }
mkdir -p "$DIR"
# parallel test workers may call this at once: one installs, the others wait
if command -v flock >/dev/null; then
  exec 9>"$DIR/.install.lock"
  flock 9
fi
if [ ! -f "$DIR/package.json" ]; then
  printf '{"name": "transactive-axe", "private": true}\n' > "$DIR/package.json"
fi
installed=""
if [ -f "$DIR/node_modules/axe-core/package.json" ]; then
  installed="$(node -p "require('$DIR/node_modules/axe-core/package.json').version")"
fi
if [ "$installed" != "$AXE_VERSION" ]; then
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION" >&2
fi
echo "$JS"
