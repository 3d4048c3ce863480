#!/usr/bin/env bash
# What a connection costs (benches/connections.rs), three systems in one
# run, each on a server of its own, alternating:
#   diskvec  this checkout as installed, preloaded: each index's codes held
#            once, in shared memory (diskvec.shared_memory);
#   prev     diskvec built from REV (default main: the commit this work
#            starts from), in a relocated copy of the PostgreSQL
#            installation, with its own data directory and indexes;
#   hnsw     pgvector 0.8 HNSW (benches/peers/pgvector.sh), no preload.
# All three with shared_buffers = 1GB, so index pages stay cached.
#
#   benches/connections.sh [REV]
#
# Environment: what benches/connections.rs reads, plus DISKVEC_BENCH_PORT
# (default 5840: this server; +1 pgvector's, +2 prev's) and
# DISKVEC_BENCH_PGDATA (default /var/tmp/diskvec-conn; the others get
# -hnsw and -prev after it). The first run loads the data sets and builds
# every index (pgvector's HNSW builds take a while); later runs reuse them.
# Needs the extension installed (cargo pgrx install --pg-config ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
cd "$root"
rev=${1:-main}
sha=$(git rev-parse --short "$rev")
port=${DISKVEC_BENCH_PORT:-5840}
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-conn}
export DISKVEC_TEST_PORT=$port

# The previous diskvec, in a PostgreSQL installation of its own (PostgreSQL
# finds its files relative to its binaries, so the two never share a
# library).
pg_root=${PG_BIN%/usr/lib/postgresql/15/bin}
prev_root=/var/tmp/diskvec-prev-$sha
prev_bin=$prev_root/usr/lib/postgresql/15/bin
if [ ! -f "$prev_root/usr/lib/postgresql/15/lib/diskvec.so" ]; then
  mkdir -p "$prev_root/usr/lib/postgresql" "$prev_root/usr/share/postgresql"
  cp -a "$pg_root/usr/lib/postgresql/15" "$prev_root/usr/lib/postgresql/"
  cp -a "$pg_root/usr/share/postgresql/15" "$prev_root/usr/share/postgresql/"
  ln -sfn /usr/include "$prev_root/usr/include"
  tree=$prev_root/src
  [ -d "$tree" ] || git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && cargo pgrx install --release --pg-config "$prev_bin/pg_config" >"$prev_root/install.log" 2>&1)
  echo "diskvec $sha installed into $prev_root" >&2
fi
PG_CONFIG="$PG_BIN/pg_config" benches/peers/pgvector.sh >&2

settings=(-c shared_buffers=1GB -c max_connections=100)
# pgvector runs without diskvec preloaded: a preloaded diskvec.so would lend
# its exported functions (l2_normalize, vector_out) to vector.so's calls.
pg_up "$dir" "$port" "${settings[@]}" -c shared_preload_libraries=diskvec
pg_up "$dir-hnsw" $((port + 1)) "${settings[@]}"
PG_BIN=$prev_bin pg_up "$dir-prev" $((port + 2)) "${settings[@]}"
stop() {
  pg_down "$dir"
  pg_down "$dir-hnsw"
  PG_BIN=$prev_bin pg_down "$dir-prev"
}
trap stop EXIT
systems="diskvec=$port,prev=$((port + 2)),hnsw=$((port + 1))"
cargo build --release -p diskvec-e2e --benches -q 2>/dev/null || true
DISKVEC_CONN_SETUP_ONLY=1 DISKVEC_CONN_SYSTEMS=$systems \
  cargo bench -q -p diskvec-e2e --bench connections
echo "# connections: diskvec $(git rev-parse --short HEAD) (shared codes), diskvec $sha (prev: codes in each backend), pgvector 0.8.0 HNSW"
DISKVEC_CONN_SYSTEMS=$systems cargo bench -q -p diskvec-e2e --bench connections
