#!/usr/bin/env bash
# The SQL benchmark (benches/sql.sh) of this checkout's installed extension
# next to another commit's, in the same run, alternating: this VM's speed
# drifts by up to 2x between minutes. The other commit is built once and
# installed into a relocated copy of PostgreSQL 15 (PostgreSQL finds its
# files relative to its binaries), so the two never share a library;
# each side runs its own server and data directory. The first round builds
# each side's index; later rounds reuse it.
#
#   benches/compare_sql.sh [REV]      (default HEAD~1)
#
# Environment: what benches/sql.sh reads (DISKVEC_BENCH_SETS, _METRICS,
# _LISTS, ...), plus ROUNDS (default 2), DISKVEC_COMPARE_DIR (scratch
# space, default /var/tmp/diskvec-compare) and DISKVEC_COMPARE_PORT (the
# base's server; the head's is the next port; default 5445). Needs root,
# like sql.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD~1}
rounds=${ROUNDS:-2}
work=${DISKVEC_COMPARE_DIR:-/var/tmp/diskvec-compare}
head_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
base_port=${DISKVEC_COMPARE_PORT:-5445}
cd "$root"
base_sha=$(git rev-parse --short "$rev")
pg=$work/pg-$base_sha
base_bin=$pg/usr/lib/postgresql/15/bin

if [ ! -f "$pg/usr/lib/postgresql/15/lib/diskvec.so" ]; then
  # A relocated copy of this machine's PostgreSQL 15 with the base built in.
  rm -rf "$pg"
  mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql"
  cp -a "$(dirname "$head_bin")" "$pg/usr/lib/postgresql/"
  cp -a "$("$head_bin/pg_config" --sharedir)" "$pg/usr/share/postgresql/"
  ln -sfn /usr/include "$pg/usr/include"
  tree=$work/tree-$base_sha
  [ -d "$tree" ] || git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && cargo pgrx install --release --pg-config "$base_bin/pg_config" >"$work/install-$base_sha.log" 2>&1)
fi

head_rev=$(git rev-parse --short HEAD)
log=$work/sql-$base_sha-vs-$head_rev.log
: >"$log"
for round in $(seq 1 "$rounds"); do
  for side in base head; do
    keep=$([ "$round" -gt 1 ] && echo 1 || echo 0)
    echo "== round $round: $side" | tee -a "$log" >&2
    if [ $side = base ]; then bin=$base_bin port=$base_port data=$work/sql-base
    else bin=$head_bin port=$((base_port + 1)) data=$work/sql-head; fi
    PG_BIN=$bin DISKVEC_BENCH_PORT=$port DISKVEC_BENCH_PGDATA=$data DISKVEC_BENCH_COPY=0 \
      DISKVEC_BENCH_INSERTS=0 DISKVEC_BENCH_KEEP_INDEX=$keep benches/sql.sh 2>/dev/null |
      sed "s/^/$side\t$round\t/" >>"$log"
  done
done

echo "# SQL: $base_sha (base) against $head_rev (head), $rounds alternating rounds"
python3 - "$log" <<'EOF'
import re, sys
from collections import defaultdict
best = defaultdict(dict)
section = {}
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t", 2)
    if len(parts) < 3:
        continue
    side, rnd, text = parts
    if text.startswith("# "):
        section[side + "regime"] = "disk-resident" if "disk-resident" in text else "cached"
    m = re.match(r"## (\w+) \(.*\), (\w+)", text)
    if m:
        section[side] = f"{m.group(1)} {m.group(2)}, {section.get(side + 'regime', 'cached')}"
    f = [x.strip() for x in text.strip("|").split("|")]
    if len(f) == 5 and f[0].isdigit() and side in section:
        key = (section[side], int(f[0]))
        r, q = float(f[1]), float(f[2])
        old = best[key].get(side)
        best[key][side] = (r, max(q, old[1]) if old else q)
    elif len(f) == 5 and f[0].startswith("exact") and side in section:
        key = (section[side], 10**9)
        q = float(f[2])
        old = best[key].get(side)
        best[key][side] = (1.0, max(q, old[1]) if old else q)
print("| set, metric, regime | list | recall@10 base | recall@10 head | QPS base | QPS head | head / base |")
print("|---|---:|---:|---:|---:|---:|---:|")
for (sec, lst), sides in sorted(best.items()):
    if "base" in sides and "head" in sides:
        (rb, qb), (rh, qh) = sides["base"], sides["head"]
        name = "exact" if lst == 10**9 else lst
        print(f"| {sec} | {name} | {rb:.4f} | {rh:.4f} | {qb:.0f} | {qh:.0f} | {qh / qb:.2f} |")
EOF
echo
echo "Full output: $log"
