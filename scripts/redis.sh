#!/usr/bin/env bash
# Provision and run a Redis server for development and tests.
#   scripts/redis.sh up     install redis-server from Debian's packages if missing, start it
#                           (or find it running), print STRATA_REDIS=127.0.0.1:PORT
#   scripts/redis.sh down   stop the server this script started (by PID)
#   scripts/redis.sh kill   SIGKILL it (fault tests)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir="$STRATA_RIG_DIR/redis-$STRATA_REDIS_PORT"
pidfile="$dir/redis.pid"

install_redis() {
  command -v redis-server >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "redis-server is missing; install it with: sudo apt-get install redis-server"
  log "installing redis-server from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends redis-server >&2
}

up() {
  mkdir -p "$dir"
  if alive "$pidfile" && port_open "$STRATA_REDIS_PORT"; then
    echo "STRATA_REDIS=127.0.0.1:$STRATA_REDIS_PORT"; return 0
  fi
  port_open "$STRATA_REDIS_PORT" && die "port $STRATA_REDIS_PORT is taken by a process this script did not start; set STRATA_REDIS_PORT"
  install_redis
  redis-server --bind 127.0.0.1 --port "$STRATA_REDIS_PORT" --dir "$dir" \
    --appendonly yes --appendfsync everysec --save '' --daemonize yes \
    --pidfile "$pidfile" --logfile "$dir/redis.log" --protected-mode yes >&2
  local i
  for i in $(seq 1 $((STRATA_RIG_TIMEOUT * 10))); do
    if port_open "$STRATA_REDIS_PORT" && [ -s "$pidfile" ]; then
      echo "STRATA_REDIS=127.0.0.1:$STRATA_REDIS_PORT"; return 0
    fi
    sleep 0.1
  done
  tail -20 "$dir/redis.log" >&2 || true
  die "redis did not answer on 127.0.0.1:$STRATA_REDIS_PORT within ${STRATA_RIG_TIMEOUT}s"
}

case "${1:-}" in
  up) up ;;
  down) stop_pid "$pidfile" redis ;;
  kill) alive "$pidfile" && kill -KILL "$(cat "$pidfile")" && rm -f "$pidfile" ;;
  *) die "usage: scripts/redis.sh up|down|kill" ;;
esac
