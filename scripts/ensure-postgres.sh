#!/usr/bin/env bash
# Prints the URL of a PostgreSQL server that answers, starting one when none does:
#   1. $DATABASE_URL, or the local server at 127.0.0.1:5432;
#   2. the machine's own cluster, started with pg_ctlcluster when it is installed but stopped;
#   3. a throwaway cluster under target/pg on 127.0.0.1:55432 (installing PostgreSQL with apt
#      first when its binaries are missing and we are root).
# Everything it says goes to stderr; stdout carries only the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

default_url="postgres://postgres@127.0.0.1:5432/postgres"
url="${DATABASE_URL:-$default_url}"
throwaway_port=55432
throwaway_dir="$PWD/target/pg"

answers() { psql "$1" -qAtc 'select 1' >/dev/null 2>&1; }

if command -v psql >/dev/null && answers "$url"; then
  echo "$url"; exit 0
fi

if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "ensure-postgres: starting the machine's PostgreSQL cluster" >&2
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start >&2 2>&1 || true
  done
  for _ in $(seq 1 30); do answers "$url" && { echo "$url"; exit 0; }; sleep 0.5; done
fi

if [ -z "$(pg_bin initdb)" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-postgres: installing PostgreSQL from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
if [ -z "$(pg_bin initdb)" ] || [ -z "$(pg_bin pg_ctl)" ]; then
  echo "ensure-postgres: no PostgreSQL answers at $url and none can be started; set DATABASE_URL" >&2
  exit 1
fi

throwaway_url="postgres://postgres@127.0.0.1:$throwaway_port/postgres"
if answers "$throwaway_url"; then echo "$throwaway_url"; exit 0; fi

cluster_create "$throwaway_dir"
cluster_start "$throwaway_dir" "$throwaway_port"
echo "$throwaway_url"
