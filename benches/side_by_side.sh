#!/usr/bin/env bash
# diskvec and pgvector's HNSW (the peer) through the same harness
# (benches/sql.rs via benches/sql.sh), on the same server settings, one
# after the other: cached and disk-resident, recall@10 / QPS / p50 / p99,
# build time, index size, and INSERT rows/s from 1, 2 and 4 sessions.
# Installs pgvector first if needed (benches/peers/pgvector.sh).
# Usage: benches/side_by_side.sh                 (GloVe-400k, cosine)
#        DISKVEC_BENCH_SETS=wordnet384 benches/side_by_side.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/benches/peers/pgvector.sh" >&2
export DISKVEC_BENCH_METRICS=${DISKVEC_BENCH_METRICS:-cosine}
for am in diskvec hnsw; do
  DISKVEC_BENCH_AM=$am DISKVEC_BENCH_COPY=0 "$root/benches/sql.sh"
done
