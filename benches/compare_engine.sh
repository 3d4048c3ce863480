#!/usr/bin/env bash
# The engine benchmark (benches/engine.rs) of this checkout next to another
# commit's, in the same run: this VM's speed drifts by up to 2x between
# minutes, so figures from different runs do not compare. Builds the other
# commit's benchmark in a scratch worktree, then runs the two alternately,
# ROUNDS times each. The first round builds each side's index (its own
# format) and keeps it; later rounds reuse it, so they measure search
# alone. Ends with a table: recall@10 and best QPS per side at each list,
# and their ratio.
#
#   benches/compare_engine.sh [REV]      (default HEAD~1)
#
# Environment: what benches/engine.rs reads (DISKVEC_BENCH_SETS, _METRICS,
# _LISTS, _QUERIES, _REPEAT, ...), plus ROUNDS (default 2) and
# DISKVEC_COMPARE_DIR (scratch space, default /var/tmp/diskvec-compare).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD~1}
rounds=${ROUNDS:-2}
work=${DISKVEC_COMPARE_DIR:-/var/tmp/diskvec-compare}
mkdir -p "$work"
cd "$root"
base_sha=$(git rev-parse --short "$rev")
head_rev=$(git rev-parse --short HEAD)
head_sha=$head_rev$(git diff --quiet HEAD -- crates benches || echo "+changes")

# One benchmark binary per side, built once.
bench_binary() {
  cargo bench -p diskvec-engine --bench engine --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "engine" and m.get("executable"):
        print(m["executable"])' | tail -1
}
if [ ! -x "$work/engine-$base_sha" ]; then
  tree=$work/tree-$base_sha
  [ -d "$tree" ] || git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && cp "$(bench_binary)" "$work/engine-$base_sha")
fi
cp "$(bench_binary)" "$work/engine-head"

log=$work/compare-$base_sha-vs-$head_rev.log
: >"$log"
# Each side keeps its own indexes: the base's by commit, the head's apart
# (even when the head is the base's commit plus uncommitted changes), and
# built afresh when the head has such changes.
head_keep=$work/indexes-head-$head_rev
case $head_sha in *+changes) head_keep=$head_keep-changes; rm -rf "$head_keep" ;; esac
for round in $(seq 1 "$rounds"); do
  for side in base head; do
    bin=$work/engine-$([ $side = base ] && echo "$base_sha" || echo head)
    keep=$([ $side = base ] && echo "$work/indexes-$base_sha" || echo "$head_keep")
    mkdir -p "$keep"
    echo "== round $round: $side" >&2
    DISKVEC_BENCH_KEEP=$keep "$bin" --bench 2>/dev/null | sed "s/^/$side\t$round\t/" >>"$log"
  done
done

echo "# engine: $base_sha (base) against $head_sha (head), $rounds alternating rounds"
python3 - "$log" <<'EOF'
import re, sys
from collections import defaultdict
best = defaultdict(dict)   # (section, list) -> side -> (recall, qps)
build = defaultdict(dict)  # section -> side -> [build lines]
section = {}
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t", 2)
    if len(parts) < 3:
        continue
    side, rnd, text = parts
    if text.startswith("== "):
        section[side] = text[3:].split(":")[0]
    elif text.startswith("-- same file store"):
        section[side] = section[side].split(" [")[0] + " [CRC on first read]"
    elif text.startswith("build "):
        build[section[side]].setdefault(side, []).append(text.split(",")[0][6:] + f" (round {rnd})")
    else:
        f = text.split()
        if len(f) >= 4 and f[0].isdigit():
            key = (section[side], int(f[0]))
            r, q = float(f[2]), float(f[3])
            old = best[key].get(side)
            best[key][side] = (r, max(q, old[1]) if old else q)
print("| set, metric, store | list | recall@10 base | recall@10 head | QPS base | QPS head | head / base |")
print("|---|---:|---:|---:|---:|---:|---:|")
for (sec, lst), sides in sorted(best.items()):
    if "base" in sides and "head" in sides:
        (rb, qb), (rh, qh) = sides["base"], sides["head"]
        print(f"| {sec} | {lst} | {rb:.4f} | {rh:.4f} | {qb:.0f} | {qh:.0f} | {qh / qb:.2f} |")
print()
for sec, sides in build.items():
    for side, lines in sides.items():
        print(f"- {sec}, {side}: build {'; '.join(lines)}")
EOF
echo
echo "Full output: $log"
