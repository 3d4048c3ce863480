#!/usr/bin/env bash
# Filtered and thresholded queries (benches/filters.rs): diskvec next to
# pgvector 0.8.0's HNSW on one server of its own (installed first by
# benches/peers/pgvector.sh), 3 GB of shared_buffers so that every table
# and index of both sets stays cached (with 1 GB, WordNet's three tables
# and three indexes, 1.2 GB, evicted one another between the systems'
# passes). Tables and indexes are kept in its data directory between runs.
# Usage: benches/filters.sh
#        DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_QUERIES=100 benches/filters.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
PG_CONFIG="$PG_BIN/pg_config" "$root/benches/peers/pgvector.sh" >&2
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-bench-filters}
port=${DISKVEC_BENCH_PORT:-5441}
export DISKVEC_TEST_PORT=$port
pg_up "$dir" "$port" -c shared_buffers=3GB
trap 'pg_down "$dir"' EXIT
cd "$root"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores); diskvec $(git rev-parse --short HEAD)"
cargo bench -q -p diskvec-e2e --bench filters
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
