#!/usr/bin/env bash
# The test command (README, second command; .ci/run runs exactly this).
#
# Creates .venv with the project and its test extras, starts the Kafka broker
# (infra/kafka.sh) and a throw-away PostgreSQL (infra/postgres.sh), runs the whole pytest
# suite against them (both log engines), and stops both servers again.
# Extra arguments go to pytest, e.g.  bash infra/test.sh -k ocpp
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Node 20+ and npm run the documents' own JavaScript clients (tests/js; the test installs `ws`)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null || echo "could not install nodejs/npm" >&2
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q '.[test]'

# the web console's browser test drives Debian's Chromium (Playwright never downloads one)
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi

export KAFKA_BOOTSTRAP="127.0.0.1:${KAFKA_PORT:-9092}"
started_kafka=""
if ! infra/kafka.sh status >/dev/null 2>&1; then infra/kafka.sh start; started_kafka=1; fi
started_pg=""
if ! infra/postgres.sh status >/dev/null 2>&1; then started_pg=1; fi
export CHARGELOG_TEST_POSTGRES_DSN="$(infra/postgres.sh start | tail -1)"
cleanup() {
  [ -n "$started_kafka" ] && infra/kafka.sh stop || true
  [ -n "$started_pg" ] && infra/postgres.sh stop || true
}
trap cleanup EXIT

ulimit -n 65536 2>/dev/null || true
# Tests import chargelog from .venv (the source tree resolves to the same layers).
.venv/bin/python -m pytest -p no:cacheprovider "$@"
