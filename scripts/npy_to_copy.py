"""Streams an (n, d) float32 .npy file, with one word per row from a text
file, to stdout as a PostgreSQL binary COPY of (id int4, word text, vector).

The vector field is pgvector's binary layout: int16 dim, int16 unused, then
dim big-endian float4. Usage: npy_to_copy.py BASE.npy WORDS.txt > out.bin
"""
import struct
import sys

import numpy as np


def main() -> None:
    vectors = np.load(sys.argv[1], mmap_mode="r")
    with open(sys.argv[2], encoding="utf-8") as f:
        words = [line.rstrip("\n") for line in f]
    n, dim = vectors.shape
    assert len(words) == n, f"{len(words)} words for {n} vectors"
    out = sys.stdout.buffer
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    vector_header = struct.pack(">ihh", 4 + 4 * dim, dim, 0)
    chunk = 10000
    for start in range(0, n, chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=">f4")
        parts = []
        for i, row in enumerate(block):
            word = words[start + i].encode("utf-8")
            parts.append(struct.pack(">hii", 3, 4, start + i + 1))
            parts.append(struct.pack(">i", len(word)) + word)
            parts.append(vector_header + row.tobytes())
        out.write(b"".join(parts))
    out.write(struct.pack(">h", -1))


if __name__ == "__main__":
    main()
