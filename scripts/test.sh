#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine as root (.ci/run calls
# this). Installs what is missing, builds, starts a throwaway PostgreSQL 15
# cluster as the `postgres` user and runs, in order:
#   1. cargo tests of the crates outside Postgres (engine, encoder)
#   2. the SQL regression suite in pg_test/ (pg_regress)
#   3. the end-to-end tests in tests/ against the server (the Citus test
#      starts a cluster of its own; Citus is built first, once)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install.sh"
source "$root/scripts/pg.sh"
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
passed=0
# Runs a cargo test command, shows its summary lines, fails on failure, and
# adds its passed tests to the total.
cargo_tests() {
  local log status
  log=$(mktemp)
  set +e
  "$@" >"$log" 2>&1
  status=$?
  set -e
  grep -E "^test result|^test .*FAILED|panicked" "$log" || true
  if [ $status -ne 0 ]; then
    tail -80 "$log"
    echo "FAILED: $*"
    exit 1
  fi
  passed=$((passed + $(grep -oE "^test result: ok. [0-9]+ passed" "$log" | awk '{s += $4} END {print s + 0}')))
  rm -f "$log"
}

# PGlite (pgvector 0.8.1 in WASM) for the compatibility tests.
if ! command -v node >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/compat/node_modules/@electric-sql/pglite ]; then
  (cd tests/compat && npm ci --silent --no-audit --no-fund)
fi

port=${DISKVEC_TEST_PORT:-5439}
dir=/tmp/diskvec-test-pg-$port
pg_down "$dir"
rm -rf "$dir"
pg_up "$dir" "$port" -c max_connections=200
trap 'pg_down "$dir"' EXIT

export DISKVEC_TEST_PORT=$port

step "unit and property tests (engine, encoder; the encoder also streams into the server)"
cargo_tests cargo test --release --workspace --exclude diskvec --exclude diskvec-e2e

step "SQL regression tests (pg_test/)"
"$root/scripts/pg_regress.sh" "$port"
passed=$((passed + $(ls "$root"/pg_test/sql/*.sql | wc -l)))

step "Citus 13.2.2 for the scale-out test (built once, about 2 minutes; skipped when installed)"
PG_CONFIG="$PG_BIN/pg_config" "$root/../shared/vendor/citus/build.sh"

step "end-to-end tests (tests/)"
cargo_tests cargo test --release -p diskvec-e2e

step "benchmark harness smoke run (benches/report.sh --smoke: tiny inputs, figures not kept)"
DISKVEC_SMOKE_PORT=$((port + 1)) "$root/benches/report.sh" --smoke
passed=$((passed + 1))

step "all tests passed"
echo "diskvec: $passed passed, 0 failed"
