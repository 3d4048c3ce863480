#!/usr/bin/env bash
# CREATE INDEX with maintenance_work_mem far below the vectors (the graph
# built a cluster at a time) against room for the in-memory build, through
# SQL on one server, in one run: build time and recall@10 at each search
# list (benches/sql.rs, cached). The two builds of a set run back to back,
# in the order given by DISKVEC_BOUNDED_ORDER (default "big small"; run it
# again with "small big" to see the drift). "peer" in the order builds
# pgvector's HNSW there too (the same budget as "big"; installed first with
# benches/peers/pgvector.sh), for the build time of the peer in the same run.
#
#   benches/bounded_build.sh
# Env: DISKVEC_BOUNDED_SETS (default "glove50:16MB wordnet384:32MB": set and
# the small budget, a fifth of the raw vectors or less), DISKVEC_BENCH_LISTS
# (default 32,64,128), DISKVEC_BOUNDED_BIG (default 2GB).
# Needs the extension installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-bench-bounded}
port=${DISKVEC_BENCH_PORT:-5434}
export DISKVEC_TEST_PORT=$port
# diskvec preloaded shares its codes across connections; pgvector's HNSW
# runs in a server without it (diskvec defines `hnsw.ef_search` for its
# own pgvector-named access methods, which pgvector would define again).
serve() {
  local want=$1
  if [ "${serving:-}" != "$want" ]; then
    pg_down "$dir"
    if [ "$want" = diskvec ]; then
      pg_up "$dir" "$port" -c shared_preload_libraries=diskvec
    else
      pg_up "$dir" "$port"
    fi
    serving=$want
  fi
}
trap 'pg_down "$dir"' EXIT
cd "$root"
cargo build --release -p diskvec-e2e --benches -q 2>/dev/null || true
case " ${DISKVEC_BOUNDED_ORDER:-} " in *" peer "*) "$root/benches/peers/pgvector.sh" >&2 ;; esac
big=${DISKVEC_BOUNDED_BIG:-2GB}
export DISKVEC_BENCH_LISTS=${DISKVEC_BENCH_LISTS:-32,64,128}
for entry in ${DISKVEC_BOUNDED_SETS:-glove50:16MB wordnet384:32MB}; do
  set=${entry%%:*} small=${entry#*:}
  for which in ${DISKVEC_BOUNDED_ORDER:-big small}; do
    mwm=$big am=diskvec
    [ "$which" = small ] && mwm=$small
    [ "$which" = peer ] && am=hnsw
    serve "$am"
    echo "# $set, cosine, $am, maintenance_work_mem = $mwm"
    DISKVEC_BENCH_AM=$am DISKVEC_BENCH_SETS=$set DISKVEC_BENCH_METRICS=cosine DISKVEC_BENCH_MWM=$mwm \
      DISKVEC_BENCH_COPY=0 DISKVEC_BENCH_INSERTS=0 DISKVEC_BENCH_EXACT=10 \
      cargo bench -q -p diskvec-e2e --bench sql
    echo
  done
done
