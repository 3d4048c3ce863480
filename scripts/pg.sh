# Shell helpers to run a throwaway PostgreSQL 15 cluster as the unprivileged
# `postgres` user (the server refuses to run as root). Source this file.
#
#   pg_up DIR PORT      initdb (once) and start; unix socket in /tmp
#   pg_down DIR         stop
#   pg_psql PORT ...    psql as superuser `postgres` over the socket

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# RUST_BACKTRACE would make pgrx append Rust backtraces to error details.
pg_as_postgres() {
  runuser -u postgres -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$@"
}

pg_up() {
  local dir=$1 port=$2
  shift 2
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
    pg_as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses='' $*" start >/dev/null
  fi
}

pg_down() {
  local dir=$1
  if [ -f "$dir/postmaster.pid" ]; then
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

pg_psql() {
  local port=$1
  shift
  psql -X -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"
}
