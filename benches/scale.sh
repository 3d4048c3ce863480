#!/usr/bin/env bash
# The scale run (#16): glove50x10, GloVe-400k ten times over with Gaussian
# noise (synthetic: benches/scale_set.rs writes it once, with its own exact
# truth), built with maintenance_work_mem a fifth of its raw vectors, next
# to GloVe-400k's builds (unconstrained, and in a fifth of its vectors) on
# the same server in the same run; each build then queried cached
# (benches/sql.rs, one client), and the scale set memory-capped
# (benches/capped.sh, diskvec only, on the same cluster and index).
#
#   benches/scale.sh
# Env: DISKVEC_SCALE_COPIES (default 10), DISKVEC_SCALE_MWM (default 160MB:
# a fifth of 4M x 50 floats), DISKVEC_BENCH_LISTS (default 32,64,128),
# DISKVEC_SCALE_CAPPED=0 to skip the capped part.
# Needs the extension installed (and root, for the capped part's cgroup).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/pg.sh
copies=${DISKVEC_SCALE_COPIES:-10}
set=glove50x$copies
mwm=${DISKVEC_SCALE_MWM:-160MB}
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-scale}
port=${DISKVEC_BENCH_PORT:-5458}
export DISKVEC_TEST_PORT=$port
export DISKVEC_BENCH_LISTS=${DISKVEC_BENCH_LISTS:-32,64,128}
DISKVEC_SCALE_COPIES=$copies cargo bench -q -p diskvec-engine --bench scale_set
cargo build --release -p diskvec-e2e --benches -q
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores); diskvec $(git rev-parse --short HEAD)"
pg_up "$dir" "$port" -c shared_preload_libraries=diskvec
trap 'pg_down "$dir"' EXIT
build() {
  echo "# $1, cosine, maintenance_work_mem = $2"
  DISKVEC_BENCH_SETS=$1 DISKVEC_BENCH_METRICS=cosine DISKVEC_BENCH_MWM=$2 \
    DISKVEC_BENCH_COPY=0 DISKVEC_BENCH_INSERTS=0 DISKVEC_BENCH_EXACT=5 \
    cargo bench -q -p diskvec-e2e --bench sql
  echo
}
build glove50 2GB
build glove50 16MB
build "$set" "$mwm"
pg_down "$dir"
trap - EXIT
if [ "${DISKVEC_SCALE_CAPPED:-1}" = 1 ]; then
  DISKVEC_BENCH_PGDATA=$dir DISKVEC_BENCH_PORT=$port DISKVEC_BENCH_SETS=$set \
    DISKVEC_CAPPED_PEER=0 DISKVEC_CAPPED_READ_AHEAD=8 \
    DISKVEC_CAPPED_LISTS=$DISKVEC_BENCH_LISTS benches/capped.sh
fi
