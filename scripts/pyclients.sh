#!/usr/bin/env bash
# pgvector-python 0.4.1, whose PyPI source release carries its own tests,
# and the client libraries those tests drive (psycopg 3, psycopg2, asyncpg),
# in a virtual environment: everything from PyPI, once (idempotent).
# tests/e2e/tests/python_clients.rs runs the tests against diskvec.
#   scripts/pyclients.sh      -> prints the directory
set -euo pipefail
dir=${DISKVEC_PYCLIENTS:-${DISKVEC_DATA:-$HOME/.cache/diskvec-data}/pyclients}
if [ ! -f "$dir/ready" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check \
    "psycopg[binary,pool]==3.3.9" psycopg-binary==3.3.9 psycopg-pool==3.3.3 \
    psycopg2-binary==2.9.13 asyncpg==0.32.0 numpy==2.4.6 scipy==1.17.1 \
    pytest==9.2.0 pytest-asyncio==1.5.0
  "$dir/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
    --no-binary :all: -d "$dir" pgvector==0.4.1
  tar -xzf "$dir/pgvector-0.4.1.tar.gz" -C "$dir"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$dir/pgvector-0.4.1"
  touch "$dir/ready"
fi
echo "$dir"
