#!/usr/bin/env bash
# Encoder throughput: diskvec-encode (candle, pure Rust) vs sentence-transformers (PyTorch, CPU)
# on the same WordNet glosses, same model, same batch size, in the same run.
#
#   benches/encoder_bench.sh            # 10,000 glosses, batch 32
#   N=2000 BATCH=64 ROUNDS=2 benches/encoder_bench.sh
#
# Needs $DISKVEC_DATA (default ~/.cache/diskvec-data) prepared by shared/data/get.sh. Creates
# $DISKVEC_DATA/st-venv with torch + sentence-transformers from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DISKVEC_DATA:-$HOME/.cache/diskvec-data}"
N="${N:-10000}"
BATCH="${BATCH:-32}"
MODEL="$DATA/all-MiniLM-L6-v2"
VENV="${ST_VENV:-$DATA/st-venv}"
[ -f "$DATA/wordnet.jsonl" ] && [ -f "$MODEL/model.safetensors" ] || { echo "missing $DATA data: run ../shared/data/get.sh" >&2; exit 1; }

if ! "$VENV/bin/python" -c "import sentence_transformers, torch" 2>/dev/null; then
  echo "== creating $VENV (torch + sentence-transformers from PyPI)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch sentence-transformers
fi

cargo build --release -q -p diskvec-encoder
BIN="${CARGO_TARGET_DIR:-target}/release/diskvec-encode"

WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
head -n "$N" "$DATA/wordnet.jsonl" > "$WORK/docs.jsonl"
echo "== $N WordNet glosses, batch $BATCH, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

ours() {  # wall time of the whole program: model load, reading, tokenizing, encoding, writing COPY
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" "$WORK/docs.jsonl" --model "$MODEL" --batch-size "$BATCH" --progress none > "$WORK/out.copy"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$N/($t1-$t0):.1f}')"
}
st() {  # sentence-transformers model.encode() on the same texts (model load and a warm-up excluded: favours it)
  "$VENV/bin/python" - "$WORK/docs.jsonl" "$MODEL" "$BATCH" 2>/dev/null <<'PY'
import json, sys, time
import torch
from sentence_transformers import SentenceTransformer
path, model_dir, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = [json.loads(l)["text"] for l in open(path)]
m = SentenceTransformer(model_dir, device="cpu")
m.encode(texts[:2 * batch], batch_size=batch)  # warm-up, not timed
t = time.time()
m.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
print(f"{len(texts) / (time.time() - t):.1f}")
PY
}
# The machine may be shared: rounds alternate the order, and the load average is shown.
ROUNDS="${ROUNDS:-1}"
BEST_O=0; BEST_S=0
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then O=$(ours); S=$(st); else S=$(st); O=$(ours); fi
  echo "round $r: diskvec-encode $O docs/s, sentence-transformers $S docs/s (torch threads: $("$VENV/bin/python" -c 'import torch; print(torch.get_num_threads())')), load $(cut -d' ' -f1 /proc/loadavg)"
  BEST_O=$(python3 -c "print(max($BEST_O, $O))"); BEST_S=$(python3 -c "print(max($BEST_S, $S))")
done
echo "diskvec-encode:        $BEST_O docs/s (best of $ROUNDS)"
echo "sentence-transformers: $BEST_S docs/s (best of $ROUNDS)"
echo "ratio:                 $(python3 -c "print(f'{$BEST_O/$BEST_S:.2f}')")x"
