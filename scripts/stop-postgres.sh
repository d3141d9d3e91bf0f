#!/usr/bin/env bash
# Stop a cluster started by start-postgres.sh and remove its directory:  scripts/stop-postgres.sh DATA_DIR
set -euo pipefail
DATA_DIR=$1
PG_CTL=$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
if [ "$(id -u)" -eq 0 ]; then
  su postgres -s /bin/sh -c "$(printf '%q ' "$PG_CTL" -D "$DATA_DIR/db" stop -m fast -w)" >&2 || true
else
  "$PG_CTL" -D "$DATA_DIR/db" stop -m fast -w >&2 || true
fi
rm -rf "$DATA_DIR"
