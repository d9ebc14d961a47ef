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

ensure_postgres
