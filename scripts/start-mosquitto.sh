#!/usr/bin/env bash
# Make sure a Mosquitto MQTT broker is installed, and optionally run one on loopback (for tests and trials).
#
#   scripts/start-mosquitto.sh                  install Debian's `mosquitto` with apt-get if absent (needs root);
#                                               print the broker's path
#   scripts/start-mosquitto.sh --run PORT DIR   also write DIR/mosquitto.conf (127.0.0.1:PORT, anonymous, no
#                                               persistence, unlimited queues) and exec the broker in the
#                                               foreground (stop it with SIGTERM)
set -euo pipefail

find_broker() {
  command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true
}

BROKER=$(find_broker)
if [ -z "$BROKER" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "start-mosquitto: mosquitto not found and not root: install it first" >&2
    exit 1
  fi
  echo "start-mosquitto: installing mosquitto with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q mosquitto >&2 || { apt-get update -q >&2 && apt-get install -y -q mosquitto >&2; }
  BROKER=$(find_broker)
fi
[ -n "$BROKER" ] || { echo "start-mosquitto: no mosquitto after install" >&2; exit 1; }

if [ "${1:-}" != "--run" ]; then
  echo "$BROKER"
  exit 0
fi
PORT=$2
DIR=$3
mkdir -p "$DIR"
cat >"$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
user $(id -un)
max_queued_messages 0
max_inflight_messages 0
max_keepalive 600
log_dest stderr
log_type error
log_type warning
CONF
exec "$BROKER" -c "$DIR/mosquitto.conf"
