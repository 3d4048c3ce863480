#!/usr/bin/env bash
# pgvector-python 0.4.1, whose PyPI source release carries its own tests,
# and the client libraries those tests drive (psycopg 3, psycopg2, asyncpg,
# SQLAlchemy with pg8000, SQLModel), in a virtual environment: everything
# from PyPI, once (idempotent; the marker names the set installed).
# tests/e2e/tests/python_clients.rs runs the tests against diskvec.
#   scripts/pyclients.sh      -> prints the directory
set -euo pipefail
dir=${DISKVEC_PYCLIENTS:-${DISKVEC_DATA:-$HOME/.cache/diskvec-data}/pyclients}
if [ ! -f "$dir/ready-2" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check \
    "psycopg[binary,pool]==3.3.9" psycopg-binary==3.3.9 psycopg-pool==3.3.3 \
    psycopg2-binary==2.9.13 asyncpg==0.32.0 numpy==2.4.6 scipy==1.17.1 \
    pytest==9.2.0 pytest-asyncio==1.5.0 \
    sqlalchemy==2.0.41 greenlet==3.2.2 pg8000==1.31.2 sqlmodel==0.0.24
  "$dir/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
    --no-binary :all: -d "$dir" pgvector==0.4.1
  tar -xzf "$dir/pgvector-0.4.1.tar.gz" -C "$dir"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$dir/pgvector-0.4.1"
  touch "$dir/ready-2"
fi
echo "$dir"
