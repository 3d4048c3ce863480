#!/bin/bash
# Builds and installs pgvector 0.8.0, the HNSW peer that benches/sql.rs
# measures side by side with diskvec (DISKVEC_BENCH_AM=hnsw), for the
# PostgreSQL that $PG_CONFIG names.
#
# Debian 12 packages no pgvector for PostgreSQL 15, so this takes the
# unmodified upstream release from Debian trixie's source package (the
# Debian archive is reachable where nothing else is), checks its sha256
# against the value below, and builds it with PGXS. apt's own sources are
# left alone: a private apt configuration under $DISKVEC_DATA/peers is used.
# Skips everything when pgvector is already installed.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-${PG_BIN:-/usr/lib/postgresql/15/bin}/pg_config}
VERSION=0.8.0
SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
if [ -f "$("$PG_CONFIG" --sharedir)/extension/vector--$VERSION.sql" ]; then
    echo "pgvector $VERSION is installed"
    exit 0
fi
work=${DISKVEC_DATA:-$HOME/.cache/diskvec-data}/peers
tarball=$work/pgvector_$VERSION.orig.tar.gz
mkdir -p "$work"
if [ ! -f "$tarball" ]; then
    apt=$work/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
    apt-get "${opts[@]}" update -qq
    (cd "$work" && apt-get "${opts[@]}" source --download-only -qq "pgvector=$VERSION-1")
fi
echo "$SHA256  $tarball" | sha256sum -c --quiet
src=$work/pgvector-$VERSION
rm -rf "$src" && mkdir -p "$src"
tar -xzf "$tarball" -C "$src" --strip-components=1
# OPTFLAGS="": no -march=native, so the build runs on any x86-64 (as ours).
make -C "$src" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
make -C "$src" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "pgvector $VERSION installed for $("$PG_CONFIG" --version)"
