#!/usr/bin/env bash
# Runs the SQL regression suite in pg_test/ (input .sql, expected .out) with
# Postgres's own pg_regress against a running server.
#   scripts/pg_regress.sh PORT
set -euo pipefail
port=${1:?usage: pg_regress.sh PORT}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${PG_REGRESS_OUT:-/tmp/diskvec-regress-$port}
rm -rf "$out" && mkdir -p "$out"
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
pg_regress=$("$pg_bin/pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress
# --use-existing skips pg_regress's own database setup: make a fresh one here.
psql -X -q -h /tmp -p "$port" -U postgres -d postgres \
  -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS diskvec_regress" -c "CREATE DATABASE diskvec_regress"
psql -X -q -h /tmp -p "$port" -U postgres -d diskvec_regress -c "CREATE EXTENSION diskvec"
PGUSER=postgres "$pg_regress" \
  --use-existing --host=/tmp --port="$port" \
  --bindir="$pg_bin" \
  --inputdir="$root/pg_test" --outputdir="$out" \
  --dbname=diskvec_regress \
  --schedule="$root/pg_test/schedule" || {
    echo "--- regression diffs ($out/regression.diffs):"
    head -200 "$out/regression.diffs" 2>/dev/null
    exit 1
  }
