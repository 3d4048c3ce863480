#!/usr/bin/env bash
# Runs every benchmark on the real sets and writes BENCHMARKS.md (tables,
# recall-QPS plots in bench-plots/, the machine, how to reproduce each
# figure). Each figure comes from this run, next to exact search.
#
#   benches/report.sh            full run (about 40 minutes on 2 cores, with
#                                pgvector's HNSW measured too)
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
  # Servers of its own, so a smoke run (CI) never meets a full run.
  export DISKVEC_BENCH_PORT=5437 DISKVEC_BENCH_PGDATA=/var/tmp/diskvec-bench-smoke
  report_port=5438
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
step "SciFact retrieval quality"
dir=/var/tmp/diskvec-report-pg-$report_port port=$report_port
pg_up "$dir" "$port"
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
  echo "Written by \`benches/report.sh\`$([ $smoke = 1 ] && echo ' --smoke (tiny inputs: not figures to quote)') on $(date -u +%Y-%m-%d)."
  echo "Every figure below comes from that one run, next to exact search measured in the same run."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $cpu, $(nproc) cores; RAM $mem; $(uname -sr)"
  echo "- $("${PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" --version); $(rustc --version)"
  echo "- diskvec $(git rev-parse --short HEAD)"
  echo
  echo "## Recall@10 against QPS"
  echo
  while read -r png; do echo "![${png%.png}](bench-plots/$png)"; echo; done <"$logs/plots.txt"
  echo "## Through SQL (one client): GloVe-400k, 50-d"
  echo
  echo "Reproduce: \`${sql_env[*]} benches/sql.sh\`. Exact search is the same query with index scans off."
  echo
  cat "$logs/sql.txt"
  if [ -f "$logs/sql_wordnet.txt" ]; then
    echo
    echo "## Through SQL: WordNet-117k MiniLM, 384-d"
    echo
    echo "Reproduce: \`DISKVEC_BENCH_SETS=wordnet384 DISKVEC_BENCH_METRICS=cosine benches/sql.sh\`"
    echo
    cat "$logs/sql_wordnet.txt"
  fi
  for f in peer_glove peer_wordnet; do
    [ -f "$logs/$f.txt" ] || continue
    echo
    echo "## The peer: pgvector 0.8.0 HNSW (m = 16, ef_construction = 64), same harness and server settings"
    echo
    echo "Reproduce: \`benches/peers/pgvector.sh\`, then \`DISKVEC_BENCH_AM=hnsw DISKVEC_BENCH_SETS=$([ $f = peer_glove ] && echo 'glove50 DISKVEC_BENCH_METRICS=cosine,l2' || echo 'wordnet384 DISKVEC_BENCH_METRICS=cosine') benches/sql.sh\`"
    echo
    cat "$logs/$f.txt"
  done
  echo
  echo "## Engine in-process (no Postgres), 1 thread, file store"
  echo
  echo "Reproduce: \`${engine_env[*]} cargo bench -p diskvec-engine --bench engine\`"
  echo
  echo '```'
  cat "$logs/engine.txt"
  echo '```'
  echo
  echo "## Retrieval quality: BEIR SciFact, all-MiniLM-L6-v2"
  echo
  echo "Reproduce: \`target/release/diskvec-eval --beir \$DISKVEC_DATA/scifact --database-url ... --embeddings crates/encoder/tests/fixtures/scifact\` (drop \`--embeddings\` to re-encode)."
  echo
  cat "$logs/scifact.txt"
  echo
  echo "## Encoder: diskvec-encode against sentence-transformers"
  echo
  echo "Reproduce: \`benches/encoder_bench.sh\`"
  echo
  echo '```'
  cat "$logs/encoder.txt"
  echo '```'
  echo
  echo "## SIMD kernels, every target this CPU runs (the first is the one used)"
  echo
  echo "Reproduce: \`cargo bench -p diskvec-engine --bench kernels\`"
  echo
  echo '```'
  cat "$logs/kernels.txt"
  echo '```'
} >"$out/BENCHMARKS.md"
step "wrote $out/BENCHMARKS.md"
