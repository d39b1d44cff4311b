# Shared settings for scripts/infra, scripts/kafka.sh and scripts/redis.sh. Sourced, not run.
# Everything the rig downloads or writes lives under STRATA_RIG_DIR; nothing goes into the work tree.
STRATA_RIG_DIR=${STRATA_RIG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/strata-rig}
STRATA_KAFKA_VERSION=${STRATA_KAFKA_VERSION:-4.1.1}
STRATA_KAFKA_PORT=${STRATA_KAFKA_PORT:-19092}           # broker i listens on PORT+i-1
STRATA_KAFKA_CONTROLLER_PORT=${STRATA_KAFKA_CONTROLLER_PORT:-19192}
STRATA_KAFKA_PARTITIONS=${STRATA_KAFKA_PARTITIONS:-4}   # internal topics (offsets, transactions)
STRATA_REDIS_PORT=${STRATA_REDIS_PORT:-16379}
STRATA_RIG_TIMEOUT=${STRATA_RIG_TIMEOUT:-90}            # seconds to wait for a server to answer

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# alive PIDFILE: true when the file names a running process.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_pid PIDFILE NAME: TERM, wait up to 30 s, then KILL; only the process we recorded.
stop_pid() {
  local f=$1 name=$2 pid i
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored TERM; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$f"
  log "stopped $name ($pid)"
}
