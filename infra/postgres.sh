#!/usr/bin/env bash
# Throw-away PostgreSQL server on 127.0.0.1 for the PostgreSQL read-model store's tests.
#
#   infra/postgres.sh start|stop|status     (prints the DSN on start)
#
# Installs Debian's postgresql package with apt when no server binaries are present.
# Environment: PG_HOME (default /tmp/chargelog-pg-PORT), PG_PORT (default 55432).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_HOME="${PG_HOME:-/tmp/chargelog-pg-${PG_PORT:-55432}}"  # outside the checkout: the postgres user must reach it
PG_PORT="${PG_PORT:-55432}"
dsn="postgresql://chargelog@127.0.0.1:$PG_PORT/chargelog"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install() {
  if [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ]; then return; fi
  echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
}

as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

start() {
  install
  local bin; bin="$(bindir)"
  mkdir -p "$PG_HOME"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_HOME"
  if [ ! -f "$PG_HOME/data/PG_VERSION" ]; then
    as_pg "'$bin/initdb' -D '$PG_HOME/data' -U postgres --auth=trust -E UTF8 >'$PG_HOME/initdb.log'"
  fi
  if ! as_pg "'$bin/pg_ctl' -D '$PG_HOME/data' status" >/dev/null 2>&1; then
    as_pg "'$bin/pg_ctl' -D '$PG_HOME/data' -l '$PG_HOME/server.log' -w -o \"-h 127.0.0.1 -p $PG_PORT -k '$PG_HOME'\" start" >/dev/null
  fi
  as_pg "'$bin/psql' -h 127.0.0.1 -p $PG_PORT -U postgres -tAc \"SELECT 1 FROM pg_roles WHERE rolname='chargelog'\" | grep -q 1 || '$bin/psql' -h 127.0.0.1 -p $PG_PORT -U postgres -qc 'CREATE ROLE chargelog LOGIN SUPERUSER'"
  as_pg "'$bin/psql' -h 127.0.0.1 -p $PG_PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='chargelog'\" | grep -q 1 || '$bin/createdb' -h 127.0.0.1 -p $PG_PORT -U postgres -O chargelog chargelog"
  echo "$dsn"
}

stop() {
  local bin; bin="$(bindir)"
  [ -n "$bin" ] && [ -f "$PG_HOME/data/PG_VERSION" ] || { echo "postgres.sh: not running"; return; }
  as_pg "'$bin/pg_ctl' -D '$PG_HOME/data' -m fast stop" >/dev/null 2>&1 || true
  echo "postgres.sh: stopped"
}

status() {
  local bin; bin="$(bindir)"
  as_pg "'$bin/pg_ctl' -D '$PG_HOME/data' status" >/dev/null 2>&1 && echo "postgres.sh: running, $dsn" || { echo "postgres.sh: not running"; return 3; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: infra/postgres.sh start|stop|status" >&2; exit 2 ;;
esac
