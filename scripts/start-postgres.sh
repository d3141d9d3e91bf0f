#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 and print its URL (for tests and local trials).
#
#   scripts/start-postgres.sh [DATA_DIR]
#
# Installs Debian's `postgresql` with apt-get when initdb/pg_ctl are not found (needs root). Creates the
# cluster in DATA_DIR (default: a new temporary directory), owned by the `postgres` user when run as root
# (PostgreSQL refuses to run as root), listening on a free loopback port with trust authentication.
# Prints two lines: the URL (postgresql://postgres@127.0.0.1:PORT/postgres) and the data directory.
# Stop it with: pg_ctl -D DATA_DIR stop -m fast   (as the owner), or scripts/stop-postgres.sh DATA_DIR.
set -euo pipefail

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ]; then echo "$found"; fi
}

INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)
if [ -z "$INITDB" ] || [ -z "$PG_CTL" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "start-postgres: initdb/pg_ctl not found and not root: install PostgreSQL first" >&2
    exit 1
  fi
  echo "start-postgres: installing postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
  INITDB=$(find_bin initdb)
  PG_CTL=$(find_bin pg_ctl)
fi
[ -n "$INITDB" ] && [ -n "$PG_CTL" ] || { echo "start-postgres: no initdb/pg_ctl after install" >&2; exit 1; }

DATA_DIR=${1:-$(mktemp -d -t transactive-pg.XXXXXX)}
mkdir -p "$DATA_DIR"
PORT=${PGPORT_WANTED:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')}

run_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    chown -R postgres "$DATA_DIR"
    chmod 700 "$DATA_DIR"
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

run_as_owner "$INITDB" -D "$DATA_DIR/db" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$DATA_DIR/initdb.log" 2>&1 \
  || { cat "$DATA_DIR/initdb.log" >&2; exit 1; }
run_as_owner "$PG_CTL" -D "$DATA_DIR/db" -l "$DATA_DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA_DIR -c max_connections=100" start >&2 \
  || { cat "$DATA_DIR/server.log" >&2; exit 1; }

echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "$DATA_DIR"
