#!/usr/bin/env bash
# The SQL benchmark (benches/sql.rs) in both regimes, on a server of its own:
#  1. cached: default shared_buffers, index and table warm;
#  2. disk-resident: the server restarted with shared_buffers = 1/8 of the
#     index and the OS page cache dropped before every measured run, so the
#     node pages come from disk; only the codes are in memory (diskvec's
#     shared code pool: diskvec is preloaded).
#  Each measured pass follows a warm-up: the whole query set when cached
#  (DISKVEC_BENCH_WARMUP overrides), sql.rs's default otherwise.
# Usage: benches/sql.sh            (GloVe-400k, cosine and l2)
#        DISKVEC_BENCH_AM=hnsw benches/sql.sh   (pgvector's HNSW instead)
#        DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_METRICS=cosine benches/sql.sh
# Needs root (to drop the page cache) and the extension installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-bench}
port=${DISKVEC_BENCH_PORT:-5435}
export DISKVEC_TEST_PORT=$port
am=${DISKVEC_BENCH_AM:-diskvec}
# diskvec shares each index's codes across connections when preloaded. The
# peer runs without it: a preloaded diskvec.so would lend its exported
# functions (l2_normalize, vector_out) to vector.so's calls of the same name.
preload=()
[ "$am" = diskvec ] && preload=(-c shared_preload_libraries=diskvec)
pg_up "$dir" "$port" "${preload[@]}"
trap 'pg_down "$dir"' EXIT
cd "$root"
cargo build --release -p diskvec-e2e --benches -q 2>/dev/null || true
echo "# ${DISKVEC_BENCH_AM:-diskvec} through SQL: cached"
# Warmed by a pass over every query: the server may have just started on
# a page cache another run dropped (compare_sql.sh alternates two servers,
# each dropping the OS cache for its disk-resident runs), and twenty
# queries leave most of the table's pages on disk.
DISKVEC_BENCH_WARMUP=${DISKVEC_BENCH_WARMUP:-all} cargo bench -q -p diskvec-e2e --bench sql
metrics=${DISKVEC_BENCH_METRICS:-cosine,l2}
if [ "$am" = hnsw ]; then db=${DISKVEC_BENCH_DB:-pgvector_bench}; else db=${DISKVEC_BENCH_DB:-diskvec_bench}; fi
for metric in ${metrics//,/ }; do
  # One index at a time: build it cached, then measure it cold.
  DISKVEC_BENCH_METRICS=$metric DISKVEC_BENCH_KEEP_INDEX=1 DISKVEC_BENCH_COPY=0 cargo bench -q -p diskvec-e2e --bench sql >/dev/null 2>&1
  # This run's indexes only (other sets' indexes may share the database).
  names=""
  for set in ${DISKVEC_BENCH_SETS:-glove50}; do
    for s in ${set//,/ }; do
      names+="bench_${s}${DISKVEC_BENCH_N:+_$DISKVEC_BENCH_N}_${am}_$metric,"
    done
  done
  size=$(pg_psql "$port" -d "$db" -tAc \
    "SELECT coalesce(sum(pg_relation_size(oid)), 0) FROM pg_class WHERE relname = ANY(string_to_array('${names%,}', ','))")
  [ "$size" -gt 0 ] || { echo "no index found among ${names%,}" >&2; exit 1; }
  sb_kb=$(( size / 8 / 1024 ))
  pg_down "$dir"
  pg_up "$dir" "$port" -c shared_buffers=${sb_kb}kB "${preload[@]}"
  echo
  echo "# disk-resident: $metric, shared_buffers ${sb_kb} kB (index $(( size / 1024 / 1024 )) MiB), OS cache dropped before each run"
  DISKVEC_BENCH_METRICS=$metric DISKVEC_BENCH_KEEP_INDEX=1 DISKVEC_BENCH_DROP_CACHES=1 DISKVEC_BENCH_COPY=0 \
    DISKVEC_BENCH_EXACT=${DISKVEC_BENCH_EXACT_COLD:-20} cargo bench -q -p diskvec-e2e --bench sql
  pg_down "$dir"
  pg_up "$dir" "$port" "${preload[@]}"
done
