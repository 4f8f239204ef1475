#!/usr/bin/env bash
# `make bench`'s own PostgreSQL: a cluster under target/bench-pg on 127.0.0.1:55433 with the settings
# of deploy/postgres/article-ingest.conf, restarted for every run so each starts from cold buffers.
#   bench-postgres.sh start   prints its URL on stdout (everything else goes to stderr)
#   bench-postgres.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cluster.sh

dir="$PWD/target/bench-pg"
port=55433
case "${1:-}" in
  start)
    if [ -z "$(pg_bin initdb)" ]; then
      echo "bench-postgres: PostgreSQL's server binaries are missing (run scripts/ensure-postgres.sh once)" >&2
      exit 1
    fi
    cluster_create "$dir"
    cluster_stop "$dir"
    cluster_start "$dir" "$port" deploy/postgres/article-ingest.conf
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop) cluster_stop "$dir" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
