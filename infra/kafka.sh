#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft: broker + controller) on 127.0.0.1, no Docker.
#
#   infra/kafka.sh start|stop|status
#
# Jars come from Maven Central through Maven (infra/kafka/pom.xml pins the release) and are
# cached under $KAFKA_LIBS, so a second start (and every private broker) reuses them. Environment:
#   KAFKA_HOME  state directory (default: infra/.kafka beside this script)
#   KAFKA_PORT  client listener port (default 9092); the controller listens on KAFKA_PORT+1
#   KAFKA_LIBS  jar directory (default: infra/.kafka/libs, shared by every KAFKA_HOME)
#   KAFKA_START_TIMEOUT_S  how long start waits for the port (default 60; a loaded machine
#               may need more: the JVM start alone took 18-24 s with 0.7 of a CPU)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_HOME="${KAFKA_HOME:-$here/.kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT=$((KAFKA_PORT + 1))
libs="${KAFKA_LIBS:-$here/.kafka/libs}"
start_timeout="${KAFKA_START_TIMEOUT_S:-60}"
data="$KAFKA_HOME/data"
logs="$KAFKA_HOME/logs"
pidfile="$KAFKA_HOME/kafka.pid"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"

fetch_jars() {
  if [ -f "$libs/.complete-$version" ]; then return; fi
  echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central" >&2
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >&2
  touch "$libs/.complete-$version"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }

java_run() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
       -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
       -cp "$libs/*" "$@"
}

write_config() {
  mkdir -p "$data" "$logs"
  cat > "$KAFKA_HOME/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
PROPS
}

start() {
  if running; then echo "kafka.sh: already running (pid $(cat "$pidfile"))"; return; fi
  fetch_jars
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    java_run kafka.tools.StorageTool format --standalone -t "$(java_run kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_HOME/server.properties" > "$logs/format.log" 2>&1 || { cat "$logs/format.log" >&2; exit 1; }
  fi
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
      -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$here/kafka/log4j2.yaml" \
      -cp "$libs/*" kafka.Kafka "$KAFKA_HOME/server.properties" > "$logs/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 $((start_timeout * 2))); do
    if port_open; then echo "kafka.sh: Kafka $version listening on 127.0.0.1:$KAFKA_PORT"; return; fi
    if ! running; then echo "kafka.sh: broker exited; see $logs" >&2; tail -20 "$logs/stdout.log" "$logs/server.log" >&2 || true; exit 1; fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not open 127.0.0.1:$KAFKA_PORT within $start_timeout s" >&2; exit 1
}

stop() {
  if ! running; then echo "kafka.sh: not running"; rm -f "$pidfile"; return; fi
  local pid; pid="$(cat "$pidfile")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka.sh: stopped"
}

status() {
  if running && port_open; then echo "kafka.sh: running (pid $(cat "$pidfile")) on 127.0.0.1:$KAFKA_PORT"
  else echo "kafka.sh: not running"; return 3; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: infra/kafka.sh start|stop|status" >&2; exit 2 ;;
esac
