#!/usr/bin/env bash
# GloVe on one node and on Citus (a coordinator and two workers, two shards
# each) on this machine: COPY, CREATE INDEX, recall@10 -> QPS and latency
# (benches/citus.rs). Builds and installs Citus 13.2.2 first (once), into
# the PostgreSQL of $PG_BIN (default Debian's). Servers of its own on
# DISKVEC_BENCH_PORT (default 5740) and the next three ports; removed after.
# Usage: benches/citus.sh
#        DISKVEC_BENCH_N=100000 DISKVEC_BENCH_LISTS=32,64 benches/citus.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
PG_CONFIG="$PG_BIN/pg_config" "$root/../shared/vendor/citus/build.sh" >&2
cd "$root"
# Other work on the machine shows in the figures: say how busy it was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
cargo bench -q -p diskvec-e2e --bench citus
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
