#!/usr/bin/env bash
# Runs every benchmark on the real sets and writes BENCHMARKS.md: a summary
# table (diskvec against pgvector's HNSW through the same SQL harness and
# against hnswlib in-process), the recall-QPS plots in bench-plots/, how it
# was measured and how to reproduce each figure, then the full tables. Each
# figure in it comes from this run, next to exact search in the same run;
# the notes in benches/notes/*.md (each naming its own run) follow.
#
#   benches/report.sh            full run (about 90 minutes on 2 cores, with
#                                pgvector's HNSW and hnswlib measured too)
#   benches/report.sh --smoke    tiny inputs, output in a temp dir: checks
#                                the harness works (CI runs this)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/pg.sh
data=${DISKVEC_DATA:-$HOME/.cache/diskvec-data}
smoke=0
[ "${1:-}" = --smoke ] && smoke=1
if [ $smoke = 1 ]; then
  out=$(mktemp -d /tmp/diskvec-report-XXXX)
else
  out=$root
fi
logs=$out/bench-logs
rm -rf "$logs" && mkdir -p "$logs"
curves=$logs/curves.tsv
: >"$curves"
step() { echo "== $*" >&2; }

# Plotting venv (matplotlib from PyPI), made once.
venv=$data/plot-venv
if ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
  step "creating $venv (matplotlib)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q matplotlib
fi

report_port=5436
if [ $smoke = 1 ]; then
  # Servers of its own, so a smoke run (CI) never meets a full run;
  # DISKVEC_SMOKE_PORT (and the next port) to run beside another smoke run.
  smoke_port=${DISKVEC_SMOKE_PORT:-5437}
  export DISKVEC_BENCH_PORT=$smoke_port DISKVEC_BENCH_PGDATA=/var/tmp/diskvec-bench-smoke-$smoke_port
  report_port=$((smoke_port + 1))
  export DISKVEC_BENCH_N=20000
  engine_env=(DISKVEC_BENCH_SETS=glove50 DISKVEC_BENCH_METRICS=cos DISKVEC_BENCH_LISTS=32,64)
  sql_env=(DISKVEC_BENCH_SETS=glove50 DISKVEC_BENCH_METRICS=cosine DISKVEC_BENCH_LISTS=32,64
    DISKVEC_BENCH_QUERIES=100 DISKVEC_BENCH_EXACT=10 DISKVEC_BENCH_EXACT_COLD=5 DISKVEC_BENCH_DB=diskvec_smoke)
else
  engine_env=(DISKVEC_BENCH_SETS=glove50,wordnet384 DISKVEC_BENCH_METRICS=cos,l2,ip)
  sql_env=(DISKVEC_BENCH_SETS=glove50 DISKVEC_BENCH_METRICS=cosine,l2)
fi

step "kernels"
cargo bench -q -p diskvec-engine --bench kernels >"$logs/kernels.txt"
step "engine in-process"
env "${engine_env[@]}" cargo bench -q -p diskvec-engine --bench engine >"$logs/engine.txt" 2>>"$curves"
step "SQL end to end (cached and disk-resident)"
env "${sql_env[@]}" benches/sql.sh >"$logs/sql.txt" 2>>"$curves"
if [ $smoke = 0 ]; then
  step "SQL end to end, WordNet 384-d (cosine)"
  DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_METRICS=cosine DISKVEC_BENCH_COPY=0 \
    benches/sql.sh >"$logs/sql_wordnet.txt" 2>>"$curves"
fi
if [ $smoke = 0 ] && [ "${DISKVEC_REPORT_PEERS:-1}" = 1 ]; then
  # The peer through the same harness and server settings (about 20 more
  # minutes: its builds are slow). DISKVEC_REPORT_PEERS=0 skips it.
  step "pgvector HNSW, GloVe (cosine, l2) and WordNet (cosine)"
  benches/peers/pgvector.sh >&2
  DISKVEC_BENCH_AM=hnsw DISKVEC_BENCH_SETS=glove50 DISKVEC_BENCH_METRICS=cosine,l2 \
    benches/sql.sh >"$logs/peer_glove.txt" 2>>"$curves"
  DISKVEC_BENCH_AM=hnsw DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_METRICS=cosine \
    benches/sql.sh >"$logs/peer_wordnet.txt" 2>>"$curves"
fi
if [ $smoke = 0 ]; then
  # The memory-capped regime, pgvector's HNSW under the same cap when the
  # peers are measured (benches/capped.sh).
  for set in glove50 wordnet384; do
    step "memory-capped regime, $set (cosine)"
    DISKVEC_BENCH_SETS=$set DISKVEC_BENCH_METRICS=cosine DISKVEC_CAPPED_PEER=${DISKVEC_REPORT_PEERS:-1} \
      benches/capped.sh >"$logs/capped_$set.txt" 2>>"$curves"
  done
fi
if [ $smoke = 0 ] && [ "${DISKVEC_REPORT_PEERS:-1}" = 1 ]; then
  step "hnswlib 0.8.0 in-process, GloVe (cosine, l2, ip)"
  hw=$data/hnswlib-venv
  if ! "$hw/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
    python3 -m venv "$hw"
    "$hw/bin/pip" install -q numpy hnswlib==0.8.0
  fi
  "$hw/bin/python" benches/peers/hnswlib_glove.py cosine l2 ip >"$logs/hnswlib.txt"
fi
step "SciFact retrieval quality"
dir=/var/tmp/diskvec-report-pg-$report_port port=$report_port
pg_up "$dir" "$port" -c shared_preload_libraries=diskvec
pg_psql "$port" -d postgres -qc "DROP DATABASE IF EXISTS beir" -c "CREATE DATABASE beir"
pg_psql "$port" -d beir -qc "CREATE EXTENSION diskvec"
cargo build -q --release -p diskvec-encoder
target/release/diskvec-eval --beir "$data/scifact" --database-url "host=/tmp port=$port user=postgres dbname=beir" \
  --embeddings crates/encoder/tests/fixtures/scifact >"$logs/scifact.txt"
pg_down "$dir"
step "encoder"
if [ $smoke = 1 ]; then
  # No sentence-transformers (a large PyTorch install) in the smoke run:
  # only our own throughput on 200 glosses.
  start=$(date +%s%N)
  head -n 200 "$data/wordnet.jsonl" | target/release/diskvec-encode --progress none >/dev/null
  echo "diskvec-encode: 200 glosses in $(( ($(date +%s%N) - start) / 1000000 )) ms (smoke)" >"$logs/encoder.txt"
else
  benches/encoder_bench.sh >"$logs/encoder.txt" 2>"$logs/encoder.err" || {
    tail -5 "$logs/encoder.err" >&2; exit 1; }
fi

step "plots"
plots=$out/bench-plots
"$venv/bin/python" benches/plot.py "$curves" "$plots" >"$logs/plots.txt"
[ -s "$logs/plots.txt" ] || { echo "no plots made" >&2; exit 1; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
{
  echo "# diskvec benchmarks"
  echo
  echo "Written by \`benches/report.sh\`$([ $smoke = 1 ] && echo ' --smoke (tiny inputs: not figures to quote)') on $(date -u +%Y-%m-%d), diskvec $(git rev-parse --short HEAD)."
  echo "Every figure down to \"Other measurements\" comes from that one run on one machine, next to exact search measured in the same run: this VM's speed drifts by up to 2x between minutes, so compare within a table, not across runs."
  echo
  echo "## Summary"
  echo
  echo "One client, top 10. diskvec and pgvector 0.8.0 HNSW (m = 16, ef_construction = 64) run through the same SQL harness on the same server settings; the in-process rows are the engine library and hnswlib 0.8.0 (M = 16, ef_construction = 64) on one thread. Each row is the first point of its sweep with recall@10 ≥ 0.95 (its best point when none reaches it). *Cached*: index and table in memory; *disk-resident*: shared_buffers an eighth of the index and the OS page cache dropped before each measured pass."
  echo
  python3 benches/summary.py "$logs"
  echo "## Recall@10 against QPS"
  echo
  while read -r png; do echo "![${png%.png}](bench-plots/$png)"; echo; done <"$logs/plots.txt"
  echo "## How it was measured"
  echo
  echo "- Machine: $cpu, $(nproc) cores; RAM $mem; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end of the run"
  echo "- $("${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" --version); $(rustc --version)"
  echo "- SIMD: $(head -1 "$logs/kernels.txt")"
  echo "- Data: GloVe-400k (399,000 × 50, 1,000 queries) and WordNet-117k (116,659 × 384 all-MiniLM-L6-v2 embeddings of WordNet glosses, 1,000 queries) from \`../shared/data/get.sh\`; recall@10 against exact top 10 (shipped for cosine, brute force for L2 and inner product)."
  echo "- SQL: \`SELECT id FROM t ORDER BY embedding <op> \$1 LIMIT 10\` from one client, 1,000 queries per point; exact search is the same query with index scans off. Default index options; \`maintenance_work_mem\` 2 GB for builds."
  echo "- *Memory-capped*: the server, its processes and page cache in a memory cgroup limited to a third of index plus table (\`benches/capped.sh\`), shared_buffers 16 MB, the cluster's files dropped from the page cache before the capped start; steady state after a warm-up pass over all queries; diskvec with and without \`diskvec.read_ahead\`, pgvector HNSW under the same kind of cap."
  echo "- Not in this report: a new connection per query and memory per backend (benches/connections.sh), builds with a small \`maintenance_work_mem\`; WHERE filters and distance thresholds (benches/filters.sh). Their runs are in the notes below."
  echo
  echo "Reproduce: \`benches/report.sh\` (this whole file), or each part:"
  echo
  echo "| part | command |"
  echo "|---|---|"
  echo "| SQL, GloVe | \`${sql_env[*]} benches/sql.sh\` |"
  echo "| SQL, WordNet | \`DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_METRICS=cosine benches/sql.sh\` |"
  echo "| pgvector HNSW | \`benches/peers/pgvector.sh\`, then the same with \`DISKVEC_BENCH_AM=hnsw\` |"
  echo "| memory-capped | \`DISKVEC_BENCH_SETS=glove50 benches/capped.sh\` (and \`wordnet384\`) |"
  echo "| engine in-process | \`${engine_env[*]} cargo bench -p diskvec-engine --bench engine\` |"
  echo "| hnswlib | \`benches/peers/hnswlib_glove.py cosine l2 ip\` (setup in its header) |"
  echo "| kernels | \`cargo bench -p diskvec-engine --bench kernels\` |"
  echo "| retrieval quality | \`target/release/diskvec-eval --beir \$DISKVEC_DATA/scifact --database-url ... --embeddings crates/encoder/tests/fixtures/scifact\` |"
  echo "| encoder | \`benches/encoder_bench.sh\` |"
  echo
  echo "## Full results of this run"
  echo
  echo "### Through SQL: GloVe-400k, 50-d"
  echo
  cat "$logs/sql.txt"
  if [ -f "$logs/sql_wordnet.txt" ]; then
    echo
    echo "### Through SQL: WordNet-117k MiniLM, 384-d"
    echo
    cat "$logs/sql_wordnet.txt"
  fi
  for set in glove50 wordnet384; do
    [ -f "$logs/capped_$set.txt" ] || continue
    echo
    echo "### Memory-capped: $([ $set = glove50 ] && echo GloVe-400k || echo WordNet-117k), server in a memory cgroup of a third of index plus table"
    echo
    cat "$logs/capped_$set.txt"
  done
  for f in peer_glove peer_wordnet; do
    [ -f "$logs/$f.txt" ] || continue
    echo
    echo "### pgvector 0.8.0 HNSW through the same harness: $([ $f = peer_glove ] && echo GloVe-400k || echo WordNet-117k)"
    echo
    cat "$logs/$f.txt"
  done
  echo
  echo "### Engine in-process (no Postgres), 1 thread, file store"
  echo
  echo '```'
  cat "$logs/engine.txt"
  echo '```'
  if [ -f "$logs/hnswlib.txt" ]; then
    echo
    echo "### hnswlib 0.8.0 in-process, GloVe-400k, 1 thread (build on 2)"
    echo
    echo '```'
    cat "$logs/hnswlib.txt"
    echo '```'
  fi
  echo
  echo "### Retrieval quality: BEIR SciFact, all-MiniLM-L6-v2"
  echo
  cat "$logs/scifact.txt"
  echo
  echo "### Encoder: diskvec-encode against sentence-transformers"
  echo
  echo '```'
  cat "$logs/encoder.txt"
  echo '```'
  echo
  echo "### SIMD kernels, every target this CPU runs (the first is the one used)"
  echo
  echo '```'
  cat "$logs/kernels.txt"
  echo '```'
  echo
  echo "# Other measurements"
  echo
  echo "Each of these names its own run (commit, command, date); they are not part of the run above."
  for note in benches/notes/*.md; do
    echo
    cat "$note"
  done
} >"$out/BENCHMARKS.md"
step "wrote $out/BENCHMARKS.md"
