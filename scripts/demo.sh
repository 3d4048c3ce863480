#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine as root: install everything,
# start a local server as the unprivileged `postgres` user, create the
# extension, load real vectors with COPY and answer similarity queries:
#   1. GloVe word vectors (399,000 x 50), binary COPY, nearest words;
#   2. WordNet glosses -> diskvec-encode (all-MiniLM-L6-v2) -> binary COPY,
#      then natural-language questions answered in SQL.
#   scripts/demo.sh            (DISKVEC_DEMO_PORT, DISKVEC_DEMO_DIR to override)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install.sh"
source "$root/scripts/pg.sh"

data=${DISKVEC_DATA:-$HOME/.cache/diskvec-data}
port=${DISKVEC_DEMO_PORT:-5434}
dir=${DISKVEC_DEMO_DIR:-/var/tmp/diskvec-demo}
py=$data/venv/bin/python
pg_up "$dir" "$port"
# diskvec preloaded, so every connection searches one copy of each index's
# codes (in shared memory, diskvec.shared_memory): set once, kept across
# restarts by postgresql.auto.conf.
if ! pg_psql "$port" -d postgres -tAc "SHOW shared_preload_libraries" | grep -qw diskvec; then
  pg_psql "$port" -d postgres -qc "ALTER SYSTEM SET shared_preload_libraries = 'diskvec'"
  pg_down "$dir"
  pg_up "$dir" "$port"
fi
echo "server: psql -h /tmp -p $port -U postgres -d diskvec_demo   (data in $dir)"

psql_demo() { pg_psql "$port" -d diskvec_demo "$@"; }
pg_psql "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'diskvec_demo'" | grep -q 1 ||
  pg_psql "$port" -qc "CREATE DATABASE diskvec_demo"
psql_demo -qc "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS diskvec"
# A demo database made by an older diskvec (0.1.0, with or without the
# index access method) is brought up to date by the upgrade script.
psql_demo -qc "SET client_min_messages = warning" -c "ALTER EXTENSION diskvec UPDATE"
# An index written by an older diskvec format answers "REINDEX required"
# (see FORMAT_VERSION in crates/engine/src/format.rs): rebuild it.
for idx in glove_embedding_cosine wordnet_docs_embedding; do
  table=$(psql_demo -tAc "SELECT tablename FROM pg_indexes WHERE indexname = '$idx'")
  [ -n "$table" ] || continue
  probe=$(psql_demo -tAc "SET enable_seqscan = off; SELECT 1 FROM $table
      ORDER BY embedding <=> (SELECT embedding FROM $table LIMIT 1) LIMIT 1" 2>&1 || true)
  if grep -q "REINDEX required" <<<"$probe"; then
    echo "index $idx was written by an older diskvec format: rebuilding it"
    psql_demo -qc "SET maintenance_work_mem = '1GB'" -c "REINDEX INDEX $idx"
  fi
done

# GloVe: 399,000 words x 50 dimensions, streamed with binary COPY.
rows=$(psql_demo -tAc "SELECT count(*) FROM pg_tables WHERE tablename = 'glove'")
if [ "$rows" = 0 ] || [ "$(psql_demo -tAc 'SELECT count(*) FROM glove')" != 399000 ]; then
  psql_demo -qc "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS glove" \
    -c "CREATE TABLE glove (id int PRIMARY KEY, word text NOT NULL, embedding vector(50) NOT NULL)"
  SECONDS=0
  "$py" "$root/scripts/npy_to_copy.py" "$data/glove50/base.npy" "$data/glove50/base_words.txt" |
    psql_demo -qc "\\copy glove FROM STDIN WITH (FORMAT binary)"
  echo "loaded $(psql_demo -tAc 'SELECT count(*) FROM glove') GloVe vectors with binary COPY in ${SECONDS}s"
fi

# The diskvec index (disk-resident graph, RaBitQ codes in memory): built
# once, about a minute on 2 cores; queries below go through it.
if ! psql_demo -tAc "SELECT 1 FROM pg_indexes WHERE indexname = 'glove_embedding_cosine'" | grep -q 1; then
  SECONDS=0
  psql_demo -qc "SET maintenance_work_mem = '1GB'" \
    -c "CREATE INDEX glove_embedding_cosine ON glove USING diskvec (embedding vector_cosine_ops)"
  echo "built the diskvec index on glove in ${SECONDS}s ($(psql_demo -tAc "SELECT pg_size_pretty(pg_relation_size('glove_embedding_cosine'))"))"
fi
psql_demo -c "EXPLAIN (COSTS OFF) SELECT word FROM glove ORDER BY embedding <=> (SELECT embedding FROM glove WHERE word = 'king') LIMIT 8"

for word in king paris computer; do
  echo
  echo "nearest neighbours of '$word' by cosine distance (<=>):"
  psql_demo -c "
    SELECT word, round((embedding <=> (SELECT embedding FROM glove WHERE word = '$word'))::numeric, 4) AS cosine_distance
    FROM glove
    ORDER BY embedding <=> (SELECT embedding FROM glove WHERE word = '$word')
    LIMIT 8"
done

# WordNet: real documents through the encoder into the database. Every
# DISKVEC_DEMO_EVERY-th gloss (default 25: 4,707 documents from all parts of
# the corpus, about 25 s on 2 cores); a re-run skips the documents already
# stored. DISKVEC_DEMO_EVERY=1 encodes all 117,659 (about 10 minutes).
encode=$root/target/release/diskvec-encode
every=${DISKVEC_DEMO_EVERY:-25}
echo
echo "encoding every ${every}th WordNet gloss with all-MiniLM-L6-v2 into table wordnet_docs"
awk -v n="$every" 'NR % n == 1' "$data/wordnet.jsonl" |
  "$encode" --database-url "host=/tmp port=$port user=postgres dbname=diskvec_demo" \
    --table wordnet_docs --progress log
psql_demo -qc "CREATE INDEX IF NOT EXISTS wordnet_docs_embedding ON wordnet_docs USING diskvec (embedding vector_cosine_ops)"
for question in "a large cat that lives in Africa" "a tool for cutting wood" "feeling very happy"; do
  echo
  echo "question: $question"
  query=$("$encode" --query "$question")
  psql_demo -c "
    SELECT doc_id, round((embedding <=> '$query')::numeric, 4) AS cosine_distance, left(text, 70) AS gloss
    FROM wordnet_docs
    ORDER BY embedding <=> '$query'
    LIMIT 5"
done
