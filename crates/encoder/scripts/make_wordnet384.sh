#!/usr/bin/env bash
# Makes the project's 384-d benchmark set from WordNet glosses with diskvec-encode:
#   $DISKVEC_DATA/wordnet.jsonl --(diskvec-encode, all-MiniLM-L6-v2)--> embeddings.npy (n × 384 float32,
#   file order, one row per gloss = its first window, as sentence-transformers truncates)
#   --(shared/data/prepare.py split … --metric cos)--> OUT/{base,queries,gt}.npy
# and checks every row against sentence-transformers' vectors in shared/data/wordnet_minilm_f16.npy
# (cosine >= 0.9999).
#
#   crates/encoder/scripts/make_wordnet384.sh                 # all 117,659 glosses (~15-25 min on 2 cores)
#   LIMIT=2000 crates/encoder/scripts/make_wordnet384.sh      # a slice, to try it
#
# Env: DISKVEC_DATA (default ~/.cache/diskvec-data), OUT (default $DISKVEC_DATA/wordnet384-diskvec),
# SHARED (default: the shared/ folder beside the repo), LIMIT (first N glosses only).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
DATA="${DISKVEC_DATA:-$HOME/.cache/diskvec-data}"
SHARED="${SHARED:-$REPO/../shared}"
[ -d "$SHARED/data" ] || SHARED=/work/shared
OUT="${OUT:-$DATA/wordnet384-diskvec}"
PY="$DATA/venv/bin/python"   # get.sh's venv, has numpy
[ -x "$PY" ] || PY=python3
mkdir -p "$OUT"

(cd "$REPO" && cargo build --release -q -p diskvec-encoder)
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/diskvec-encode"

SRC="$DATA/wordnet.jsonl"
if [ -n "${LIMIT:-}" ]; then head -n "$LIMIT" "$SRC" > "$OUT/input.jsonl"; SRC="$OUT/input.jsonl"; fi
echo "== encoding $(wc -l < "$SRC") glosses" >&2
# wordnet.jsonl repeats 21 ids: keep every line so rows match the file (and the reference) 1:1
"$BIN" "$SRC" --batch-size 32 --keep-duplicate-ids --progress auto > "$OUT/embeddings.copy"

echo "== COPY stream -> embeddings.npy, checking against sentence-transformers" >&2
"$PY" - "$OUT/embeddings.copy" "$OUT/embeddings.npy" "$SHARED/data/wordnet_minilm_f16.npy" <<'PY'
import struct, sys
import numpy as np
src, dst, ref = sys.argv[1:4]
b = open(src, "rb").read()
assert b[:11] == b"PGCOPY\n\xff\r\n\x00", "not a binary COPY stream"
pos = 19 + struct.unpack(">i", b[15:19])[0]
rows = []
while True:
    (nf,) = struct.unpack_from(">h", b, pos); pos += 2
    if nf == -1:
        break
    fields = []
    for _ in range(nf):
        (ln,) = struct.unpack_from(">i", b, pos); pos += 4
        fields.append(b[pos:pos + ln]); pos += ln
    chunk = struct.unpack(">i", fields[1])[0]
    if chunk == 0:  # first window of each gloss, in file order
        dim, unused = struct.unpack_from(">hh", fields[3])
        rows.append(np.frombuffer(fields[3], dtype=">f4", offset=4, count=dim))
x = np.stack(rows).astype(np.float32)
np.save(dst, x)
r = np.load(ref)[: len(x)].astype(np.float32)
cos = (x * r).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(r, axis=1)
print(f"{x.shape[0]} x {x.shape[1]} vectors; cosine to sentence-transformers: min {cos.min():.7f}, mean {cos.mean():.7f}", file=sys.stderr)
assert cos.min() >= 0.9999, "encoder disagrees with sentence-transformers"
PY
rm -f "$OUT/embeddings.copy"

echo "== prepare.py split -> $OUT/{base,queries,gt}.npy" >&2
"$PY" "$SHARED/data/prepare.py" split "$OUT/embeddings.npy" "$OUT" --metric cos
ls -l "$OUT" >&2
