#!/usr/bin/env bash
# Build the batch signature verifier transactive/crypto/_secp256k1_batch (a C extension, issue 13) against
# libsecp256k1's sources, which the npm package secp256k1 (pinned version and integrity hash below) bundles
# under package/src/secp256k1/. The package is fetched with `npm pack` into the project-local folder
# .secp256k1/ (gitignored, like the module it builds); idempotent: rebuilds only when the C file changed.
# Usage: scripts/setup-secp256k1-batch.sh [PYTHON]   (default .venv/bin/python: its headers and suffix)
# Without npm or gcc it says so and exits 3: signatures are then verified by recovery alone (same results).
set -euo pipefail
VERSION="5.0.1"
INTEGRITY="sha512-lDFs9AAIaWP9UCdtWrotXWWF9t8PWgQDcxqgAnpM9rMqxb3Oaq2J0thzPVSxBwdJgyQtkU/sYtFtbM1RSt/iYA=="
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"
DIR="$ROOT/.secp256k1"
SRC_C="$ROOT/src/transactive/crypto/_secp256k1_batch.c"
for tool in npm gcc; do
  command -v "$tool" >/dev/null || { echo "setup-secp256k1-batch: $tool is not installed" >&2; exit 3; }
done
mkdir -p "$DIR"
if command -v flock >/dev/null; then  # parallel callers: one builds, the others wait
  exec 9>"$DIR/.build.lock"
  flock 9
fi
SUFFIX="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
INCLUDE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
OUT="$ROOT/src/transactive/crypto/_secp256k1_batch$SUFFIX"
if [ -f "$OUT" ] && [ "$OUT" -nt "$SRC_C" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ]; then
  echo "$OUT"
  exit 0
fi
LIB="$DIR/secp256k1-$VERSION/package/src/secp256k1"
if [ ! -f "$LIB/src/secp256k1.c" ]; then
  TARBALL="$DIR/secp256k1-$VERSION.tgz"
  if [ ! -f "$TARBALL" ]; then
    (cd "$DIR" && npm pack --silent --loglevel=error "secp256k1@$VERSION" >/dev/null)
  fi
  got="sha512-$("$PY" -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$TARBALL")"
  if [ "$got" != "$INTEGRITY" ]; then
    rm -f "$TARBALL"
    echo "setup-secp256k1-batch: secp256k1-$VERSION.tgz has integrity $got, expected $INTEGRITY" >&2
    exit 4
  fi
  rm -rf "$DIR/secp256k1-$VERSION"
  mkdir -p "$DIR/secp256k1-$VERSION"
  tar -xzf "$TARBALL" -C "$DIR/secp256k1-$VERSION" package/src/secp256k1
fi
# the library's implementation files are #included by the module (static functions, nothing else exported)
gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -Wno-unused-function -Wno-nonnull-compare \
  -I"$INCLUDE" -I"$LIB" -I"$LIB/src" "$SRC_C" -o "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
