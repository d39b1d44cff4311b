#!/usr/bin/env bash
# Provision and run Apache Kafka (KRaft, combined broker+controller nodes) from Maven Central jars.
#   scripts/kafka.sh up [N]      resolve the jars (cached), format storage, start N nodes (default 1)
#                                or find them running; print STRATA_KAFKA=host:port,...
#   scripts/kafka.sh down        stop every node this script started (by PID)
#   scripts/kafka.sh stop I      stop node I (1-based) gracefully; kill I sends SIGKILL
#   scripts/kafka.sh start I     start node I again after stop/kill
# With N=1: replication factor 1. With N>=3: replication factor 3, min.insync.replicas=2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

jars="$STRATA_RIG_DIR/kafka-jars-$STRATA_KAFKA_VERSION"
run="$STRATA_RIG_DIR/kafka-$STRATA_KAFKA_PORT"

resolve_jars() {
  [ -f "$jars/.complete" ] && return 0
  command -v java >/dev/null || die "java is missing: Kafka 4.x needs JDK 17 or newer"
  command -v mvn >/dev/null || die "mvn is missing: it resolves Kafka's jars from Maven Central"
  log "resolving org.apache.kafka:kafka_2.13:$STRATA_KAFKA_VERSION and its runtime dependencies into $jars"
  rm -rf "$jars.tmp"
  mvn -q -B -f "$SCRIPTS_DIR/kafka/pom.xml" -Dkafka.version="$STRATA_KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$jars.tmp" >&2 \
    || die "maven could not resolve Kafka $STRATA_KAFKA_VERSION"
  ls "$jars.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing after resolution"
  rm -rf "$jars"; mv "$jars.tmp" "$jars"; touch "$jars/.complete"
}

brokers_running() { cat "$run/brokers" 2>/dev/null || echo 0; }

voters() {
  local n=$1 i out=""
  for i in $(seq 1 "$n"); do out+="${out:+,}$i@127.0.0.1:$((STRATA_KAFKA_CONTROLLER_PORT + i - 1))"; done
  echo "$out"
}

addresses() {
  local n=$1 i out=""
  for i in $(seq 1 "$n"); do out+="${out:+,}127.0.0.1:$((STRATA_KAFKA_PORT + i - 1))"; done
  echo "$out"
}

write_config() {
  local i=$1 n=$2 rf=1 isr=1
  [ "$n" -ge 3 ] && { rf=3; isr=2; }
  cat > "$run/node-$i.properties" <<CONF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(voters "$n")
listeners=PLAINTEXT://127.0.0.1:$((STRATA_KAFKA_PORT + i - 1)),CONTROLLER://127.0.0.1:$((STRATA_KAFKA_CONTROLLER_PORT + i - 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$((STRATA_KAFKA_PORT + i - 1))
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/data-$i
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=$STRATA_KAFKA_PARTITIONS
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=$STRATA_KAFKA_PARTITIONS
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
CONF
}

java_opts() {
  local n=$1 heap=768m
  [ "$n" -ge 3 ] && heap=384m
  echo "-Xms$heap -Xmx$heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true -Dlog4j2.configurationFile=$SCRIPTS_DIR/kafka/log4j2.properties"
}

start_node() {
  local i=$1 n=$2
  local pidfile="$run/node-$i.pid" logdir="$run/logs-$i"
  alive "$pidfile" && return 0
  mkdir -p "$logdir"
  : > "$logdir/server.log"
  # shellcheck disable=SC2046
  setsid nohup java $(java_opts "$n") -Dkafka.logs.dir="$logdir" -cp "$jars/*" \
    kafka.Kafka "$run/node-$i.properties" > "$logdir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

wait_node() {
  local i=$1 t
  local pidfile="$run/node-$i.pid" logdir="$run/logs-$i"
  for t in $(seq 1 $((STRATA_RIG_TIMEOUT * 10))); do
    alive "$pidfile" || { tail -30 "$logdir/server.log" "$logdir/stdout.log" >&2; die "kafka node $i exited during start"; }
    if grep -q "Kafka Server started" "$logdir/server.log" 2>/dev/null && port_open $((STRATA_KAFKA_PORT + i - 1)); then
      return 0
    fi
    sleep 0.1
  done
  tail -30 "$logdir/server.log" >&2
  die "kafka node $i did not start within ${STRATA_RIG_TIMEOUT}s"
}

up() {
  local n=${1:-1} i
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "broker count must be a positive integer, got '$n'"
  [ "$n" = 2 ] && die "2 brokers cannot keep a controller majority when one fails; use 1 or 3+"
  local have; have=$(brokers_running)
  if [ "$have" != 0 ] && [ "$have" != "$n" ]; then
    for i in $(seq 1 "$have"); do
      alive "$run/node-$i.pid" && die "a $have-broker Kafka is running on port $STRATA_KAFKA_PORT; run scripts/infra down first"
    done
  fi
  if [ "$have" = "$n" ] && [ -f "$run/cluster-id" ]; then
    local all=1
    for i in $(seq 1 "$n"); do alive "$run/node-$i.pid" || all=0; done
    if [ "$all" = 1 ]; then echo "STRATA_KAFKA=$(addresses "$n")"; return 0; fi
  else
    for i in $(seq 1 "$n"); do
      port_open $((STRATA_KAFKA_PORT + i - 1)) && die "port $((STRATA_KAFKA_PORT + i - 1)) is taken by a process this script did not start; set STRATA_KAFKA_PORT"
    done
    resolve_jars
    rm -rf "$run"; mkdir -p "$run"
    java -cp "$jars/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$run/cluster-id"
    for i in $(seq 1 "$n"); do
      write_config "$i" "$n"
      java -cp "$jars/*" -Dlog4j2.configurationFile="$SCRIPTS_DIR/kafka/log4j2.properties" -Dkafka.logs.dir="$run" \
        kafka.tools.StorageTool format -t "$(cat "$run/cluster-id")" -c "$run/node-$i.properties" >&2 \
        || die "formatting KRaft storage for node $i failed"
    done
    echo "$n" > "$run/brokers"
  fi
  for i in $(seq 1 "$n"); do start_node "$i" "$n"; done
  for i in $(seq 1 "$n"); do wait_node "$i"; done
  echo "STRATA_KAFKA=$(addresses "$n")"
}

down() {
  local n i; n=$(brokers_running)
  [ "$n" = 0 ] && return 0
  # TERM every node at once so that the controllers keep their quorum while brokers shut down.
  for i in $(seq 1 "$n"); do stop_pid "$run/node-$i.pid" "kafka node $i" & done
  wait
}

node_arg() {
  local i=${1:-}; local n; n=$(brokers_running)
  [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "node must be 1..$n, got '$i'"
}

case "${1:-}" in
  up) up "${2:-1}" ;;
  down) down ;;
  stop) node_arg "${2:-}"; stop_pid "$run/node-$2.pid" "kafka node $2" ;;
  kill) node_arg "${2:-}"; alive "$run/node-$2.pid" && kill -KILL "$(cat "$run/node-$2.pid")"; rm -f "$run/node-$2.pid" ;;
  start) node_arg "${2:-}"; start_node "$2" "$(brokers_running)"; wait_node "$2" ;;
  *) die "usage: scripts/kafka.sh up [N] | down | stop I | kill I | start I" ;;
esac
