#!/usr/bin/env bash
# The memory-capped regime: the server (its processes, shared memory and
# page cache) started inside a memory cgroup whose limit is a third of
# index plus table, with shared_buffers small, so most node and heap pages
# come from disk on every query. diskvec and pgvector's HNSW take turns
# under the same kind of cap in one run (this VM's speed drifts), each
# measured in steady state: a warm-up pass over all queries, then the
# measured pass, one query at a time from a client outside the cgroup.
#
#   benches/capped.sh                (GloVe-400k, cosine)
#   DISKVEC_BENCH_SETS=wordnet384 benches/capped.sh
#
# Environment: DISKVEC_BENCH_SETS (default glove50), DISKVEC_BENCH_METRICS
# (one metric, default cosine), DISKVEC_CAPPED_LISTS / DISKVEC_CAPPED_EF
# (diskvec's search lists and pgvector's ef_search swept), _QUERIES and
# _PEER_QUERIES (queries per pass: pgvector is many times slower here),
# DISKVEC_CAPPED_FRACTION (default 3: the limit is 1/3 of index + table),
# ROUNDS (default 1: each round measures both), DISKVEC_CAPPED_PEER=0 to
# leave pgvector out, DISKVEC_CAPPED_READ_AHEAD (diskvec.read_ahead values,
# each measured in turn, default "8 0": with and without read-ahead),
# DISKVEC_CAPPED_SERVER_OPTS (more `-c name=value` for the capped server). Needs root: the cgroup is made as a child of this
# process's own memory cgroup (v1 memory.limit_in_bytes, or v2 memory.max)
# and removed at the end; no other cgroup is touched.
#
# Two traps this avoids: cgroup v1 charges a cached page to whoever read it
# first, so the cluster's files are dropped from the page cache
# (posix_fadvise DONTNEED) before the capped start, or the cap never bites;
# and queries are timed one by one from the client (a one-statement pass
# over all queries bloats the backend under the cap).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/pg.sh
dir=${DISKVEC_BENCH_PGDATA:-/var/tmp/diskvec-capped}
port=${DISKVEC_BENCH_PORT:-5455}
export DISKVEC_TEST_PORT=$port
sets=${DISKVEC_BENCH_SETS:-glove50}
metric=${DISKVEC_BENCH_METRICS:-cosine}
rounds=${ROUNDS:-1}
fraction=${DISKVEC_CAPPED_FRACTION:-3}
lists=${DISKVEC_CAPPED_LISTS:-16,32,48,64,96}
efs=${DISKVEC_CAPPED_EF:-40,64,100}
queries=${DISKVEC_CAPPED_QUERIES:-1000}
peer_queries=${DISKVEC_CAPPED_PEER_QUERIES:-200}
peer=${DISKVEC_CAPPED_PEER:-1}
read_aheads=${DISKVEC_CAPPED_READ_AHEAD:-8 0}
server_opts=${DISKVEC_CAPPED_SERVER_OPTS:-}

# This process's memory cgroup, and the child the server runs in.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  v=2
  base=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
else
  v=1
  base=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
fi
[ -d "$base" ] && [ -w "$base" ] || { echo "cannot create a cgroup under $base (needs root)" >&2; exit 1; }
cg=$base/diskvec-capped-$$

cleanup() {
  pg_down "$dir"
  [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT

# Drop every file of the cluster from the page cache.
forget_files() {
  python3 - "$1" <<'EOF'
import os, sys
for top, _, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            fd = os.open(os.path.join(top, f), os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
}

cg_read() {
  case $v/$1 in
    1/peak) cat "$cg/memory.max_usage_in_bytes" ;;
    2/peak) cat "$cg/memory.peak" 2>/dev/null || echo 0 ;;
    1/limit) cat "$cg/memory.limit_in_bytes" ;;
    2/limit) cat "$cg/memory.max" ;;
  esac
}

if [ "$peer" = 1 ]; then benches/peers/pgvector.sh >&2; fi
cargo build --release -p diskvec-e2e --benches -q

# One system on one set: make sure its table and index exist (uncapped),
# then restart it capped and measure.
measure() {
  local am=$1 set=$2 ra=${3:-} preload=() db knob nq label=$1 regime=memory-capped
  if [ "$am" = diskvec ]; then
    preload=(-c shared_preload_libraries=diskvec -c diskvec.read_ahead=$ra)
    label="diskvec (read_ahead $ra)" regime="memory-capped, read_ahead $ra"
    db=diskvec_bench knob=$lists nq=$queries
  else
    db=pgvector_bench knob=$efs nq=$peer_queries
  fi
  pg_up "$dir" "$port" "${preload[@]}"
  DISKVEC_BENCH_AM=$am DISKVEC_BENCH_SETS=$set DISKVEC_BENCH_METRICS=$metric \
    DISKVEC_BENCH_KEEP_INDEX=1 DISKVEC_BENCH_COPY=0 DISKVEC_BENCH_INSERTS=0 \
    DISKVEC_BENCH_QUERIES=1 DISKVEC_BENCH_EXACT=1 DISKVEC_BENCH_LISTS=${knob%%,*} \
    cargo bench -q -p diskvec-e2e --bench sql >/dev/null 2>"$dir.prep.log" ||
    { cat "$dir.prep.log" >&2; exit 1; }
  local index=bench_${set}_${am}_$metric table=bench_$set
  local sizes
  sizes=$(pg_psql "$port" -d "$db" -tAc \
    "SELECT pg_relation_size('$index'), pg_table_size('$table')")
  local isize=${sizes%|*} tsize=${sizes#*|}
  pg_down "$dir"
  forget_files "$dir"
  local limit=$(( (isize + tsize) / fraction ))
  mkdir "$cg"
  if [ $v = 1 ]; then
    echo "$limit" >"$cg/memory.limit_in_bytes"
  else
    echo "$limit" >"$cg/memory.max"
  fi
  # The server, and every process it starts, in the cgroup.
  (echo $BASHPID >"$cg/cgroup.procs" && pg_up "$dir" "$port" -c shared_buffers=16MB "${preload[@]}" $server_opts)
  echo
  echo "# memory-capped: $label, $set $metric; limit $(( limit >> 20 )) MiB = (index $(( isize >> 20 )) MiB + table $(( tsize >> 20 )) MiB) / $fraction, shared_buffers 16 MB${server_opts:+, $server_opts}, cluster files dropped from the page cache first; warm-up pass over the $nq queries, then the measured pass"
  DISKVEC_BENCH_AM=$am DISKVEC_BENCH_SETS=$set DISKVEC_BENCH_METRICS=$metric \
    DISKVEC_BENCH_KEEP_INDEX=1 DISKVEC_BENCH_COPY=0 DISKVEC_BENCH_INSERTS=0 \
    DISKVEC_BENCH_QUERIES=$nq DISKVEC_BENCH_EXACT=${DISKVEC_CAPPED_EXACT:-5} \
    DISKVEC_BENCH_LISTS=$knob DISKVEC_BENCH_WARMUP=all DISKVEC_BENCH_REGIME="$regime" \
    cargo bench -q -p diskvec-e2e --bench sql
  echo "cgroup peak $(( $(cg_read peak) >> 20 )) MiB of $(( $(cg_read limit) >> 20 )) MiB"
  pg_down "$dir"
  # The last processes may take a moment to leave the cgroup.
  for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.2; done
  [ ! -d "$cg" ] || { echo "could not remove $cg" >&2; exit 1; }
}

for r in $(seq "$rounds"); do
  for set in ${sets//,/ }; do
    for ra in $read_aheads; do
      measure diskvec "$set" "$ra"
    done
    if [ "$peer" = 1 ]; then measure hnsw "$set"; fi
  done
done
