#!/usr/bin/env bash
# Makes the pgvector database dump that tests/e2e/tests/pgvector_migration.rs
# restores into diskvec, and pgvector's answers to queries.sql on it.
#   tests/compat/pgvector_dump/make.sh PORT
# needs a PostgreSQL 15 server on PORT (unix socket in /tmp) whose
# installation has pgvector (benches/peers/pgvector.sh installs 0.8.0).
# Writes pgvector.dump (pg_dump custom format) and expected.tsv (one line a
# query: the query, TAB, its rows as psql -A prints them, ';' between rows).
set -euo pipefail
port=${1:?usage: make.sh PORT}
here=$(cd "$(dirname "$0")" && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
psql_() { psql -X -q -h /tmp -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -d postgres -c "DROP DATABASE IF EXISTS pgvector_dump_src" -c "CREATE DATABASE pgvector_dump_src"
psql_ -d pgvector_dump_src <<'SQL'
CREATE EXTENSION vector;
CREATE TABLE items (
    id int PRIMARY KEY,
    category int NOT NULL,
    embedding vector(8),
    half halfvec(3),
    sparse sparsevec(5)
);
-- Deterministic values (no random()): a sine hash of row and element,
-- spread over [-0.5, 0.5) (a smooth function of the row would put many
-- rows within 1e-5 of each other, a test of ties rather than of a restore).
INSERT INTO items
SELECT i, i % 4,
       ARRAY(SELECT round((((sin(i * 12.9898 + j * 78.233) * 43758.5453)::numeric % 1 + 1) % 1 - 0.5), 4)
             FROM generate_series(1, 8) j)::vector,
       ARRAY[round(sin(i)::numeric, 3), round(cos(i)::numeric, 3), (i % 7)::numeric]::halfvec,
       ARRAY[CASE WHEN i % 3 = 0 THEN 0 ELSE i % 5 END, 0, (i % 11) * 0.5,
             CASE WHEN i % 2 = 0 THEN 1.5 ELSE 0 END, -(i % 13)]::sparsevec
FROM generate_series(1, 2000) i;
UPDATE items SET half = NULL WHERE id % 97 = 0;
CREATE INDEX items_embedding_hnsw ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 12, ef_construction = 48);
CREATE INDEX items_embedding_ivfflat ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 20);
CREATE INDEX items_embedding_ip ON items USING hnsw (embedding vector_ip_ops);
CREATE INDEX items_category ON items (category);
SQL
"$PG_BIN/pg_dump" -h /tmp -p "$port" -U postgres -Fc -f "$here/pgvector.dump" pgvector_dump_src
: >"$here/expected.tsv"
while IFS= read -r q; do
  # Exact answers: pgvector's indexes are approximate, diskvec's must find these.
  rows=$(psql_ -d pgvector_dump_src -A -t -F '|' -R ';' -P null='\N' \
           -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" -c "$q")
  printf '%s\t%s\n' "$q" "$rows" >>"$here/expected.tsv"
done <"$here/queries.sql"
psql_ -d postgres -c "DROP DATABASE pgvector_dump_src"
echo "wrote $here/pgvector.dump and expected.tsv ($(wc -l <"$here/expected.tsv") queries)"
