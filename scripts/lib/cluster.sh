# Sourced by ensure-postgres.sh and bench-postgres.sh: a PostgreSQL cluster of our own, in a
# directory under target/, on a loopback port, trust auth, run as the postgres user when we are root
# (PostgreSQL refuses to run as root).

pg_bin() {
  command -v "$1" 2>/dev/null && return
  ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

as_owner=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_owner=(runuser -u postgres --)
fi

# cluster_create DIR: initdb once.
cluster_create() {
  local dir=$1
  [ -f "$dir/PG_VERSION" ] && return
  echo "postgres: creating a cluster in $dir" >&2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  "${as_owner[@]}" "$(pg_bin initdb)" -D "$dir" -U postgres --auth=trust >&2
}

# cluster_start DIR PORT [SETTINGS_FILE]: starts it, with SETTINGS_FILE's settings when given
# (copied into the cluster and included last, so it wins over initdb's postgresql.conf).
cluster_start() {
  local dir=$1 port=$2 settings=${3:-}
  if [ -n "$settings" ]; then
    cp "$settings" "$dir/article-ingest.conf"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/article-ingest.conf"
    grep -q "^include_if_exists = 'article-ingest.conf'" "$dir/postgresql.conf" ||
      echo "include_if_exists = 'article-ingest.conf'" >>"$dir/postgresql.conf"
  fi
  "${as_owner[@]}" "$(pg_bin pg_ctl)" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp" start >&2
}

# cluster_stop DIR: stops it when it runs (a pid file left by a crash is not a running server).
cluster_stop() {
  local dir=$1
  [ -f "$dir/PG_VERSION" ] || return 0
  "${as_owner[@]}" "$(pg_bin pg_ctl)" -D "$dir" status >/dev/null 2>&1 || return 0
  "${as_owner[@]}" "$(pg_bin pg_ctl)" -D "$dir" -m fast -w stop >&2
}
