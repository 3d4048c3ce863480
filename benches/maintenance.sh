#!/usr/bin/env bash
# VACUUM of a diskvec index alone and beside two inserting sessions
# (benches/maintenance.rs), for two builds in turn on one server's data:
# the baseline's PostgreSQL installation and this tree's, alternating, each
# round a fresh table and index. Prints each trial's table, then a summary
# with the ratios.
#
#   DISKVEC_BASELINE_PG_BIN=/path/to/pg/bin benches/maintenance.sh [ROUNDS]
#
# PG_BIN (as scripts/pg.sh) is the installation with this tree's build;
# DISKVEC_BASELINE_PG_BIN another PostgreSQL 15 installation with the
# baseline's build (a copy of the installation with `cargo pgrx install
# --pg-config COPY/bin/pg_config` run from the baseline's checkout).
# Without it, only this tree is measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-maint}
port=${DISKVEC_BENCH_PORT:-5435}
rounds=${1:-1}
export DISKVEC_TEST_PORT=$port
cd "$root"
cargo build --release -p diskvec-e2e --benches -q
systems=("this-tree=$PG_BIN")
if [ -n "${DISKVEC_BASELINE_PG_BIN:-}" ]; then
  systems=("baseline=$DISKVEC_BASELINE_PG_BIN" "${systems[@]}")
fi
lines=$(mktemp)
err=$(mktemp)
trap 'pg_down "$dir"; rm -f "$lines" "$err"' EXIT
for r in $(seq "$rounds"); do
  for s in "${systems[@]}"; do
    name=${s%%=*}
    PG_BIN=${s#*=}
    pg_up "$dir" "$port" -c shared_buffers=1GB -c max_wal_size=8GB
    if ! DISKVEC_BENCH_LABEL=", $name, round $r" cargo bench -q -p diskvec-e2e --bench maintenance 2>"$err"; then
      tail -30 "$err"
      exit 1
    fi
    grep '^maint' "$err" >>"$lines"
    pg_down "$dir"
  done
done
echo
echo "## Summary: medians over $rounds round(s)"
echo
python3 - "$lines" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    _, label, alone, quiet, busy_vac, busy, recall = line.rstrip("\n").split("\t")
    name = label.split(",")[1].strip()
    rows.setdefault(name, []).append([float(x) for x in (alone, quiet, busy_vac, busy, recall)])
print("| build | VACUUM alone (s) | INSERT rows/s without | VACUUM beside inserts (s) | INSERT rows/s during | during / without | recall@10 after |")
print("|---|---:|---:|---:|---:|---:|---:|")
med = {}
for name, rs in rows.items():
    m = [st.median(c) for c in zip(*rs)]
    med[name] = m
    print(f"| {name} | {m[0]:.1f} | {m[1]:.0f} | {m[2]:.1f} | {m[3]:.0f} | {m[3] / m[1]:.2f} | {m[4]:.4f} |")
if "baseline" in med and "this-tree" in med:
    print(f"\nVACUUM alone, this tree / baseline: {med['this-tree'][0] / med['baseline'][0]:.2f}")
PY
