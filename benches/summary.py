"""The summary table at the top of BENCHMARKS.md, from one report run's logs.

    python3 benches/summary.py BENCH_LOGS_DIR

Reads what `benches/report.sh` wrote there (sql*.txt and peer_*.txt from
benches/sql.rs, capped_*.txt from benches/capped.sh, engine.txt from benches/engine.rs, hnswlib.txt from
benches/peers/hnswlib_glove.py) and prints, per data set and metric, one row
per system: build time, index size, memory, and the first measured point
with recall@10 >= 0.95 (QPS and p50 there), next to exact search in the
same run. Standard library only.
"""
import os
import re
import sys
from collections import defaultdict

TARGET = 0.95
SETS = {"glove50": "GloVe-400k, 50-d", "wordnet384": "WordNet-117k MiniLM, 384-d"}
METRICS = {"cos": "cosine", "cosine": "cosine", "l2": "L2", "ip": "inner product"}


def first_at_target(points):
    """The first (lowest-list) point reaching the target recall, else the best."""
    for p in points:
        if p["recall"] >= TARGET:
            return p
    return max(points, key=lambda p: p["recall"]) if points else None


def parse_sql(path, rows, exact):
    """benches/sql.rs output: sections per regime, set and metric."""
    system, regime, key, cur = None, "cached", None, None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"# (\w+) through SQL: cached", line)
        if m:
            system, regime = m.group(1), "cached"
            continue
        if line.startswith("# disk-resident"):
            regime = "disk-resident"
            continue
        # benches/capped.sh: one section per system (and read-ahead setting).
        m = re.match(r"# memory-capped: (\w+)(?: \(read_ahead (\d+)\))?", line)
        if m:
            system = m.group(1)
            regime = "memory-capped" + (f", read_ahead {m.group(2)}" if m.group(2) else "")
            continue
        m = re.match(r"## (\w+) \((\d+) x (\d+)\), (\w+)", line)
        if m:
            key = (m.group(1), METRICS.get(m.group(4), m.group(4)))
            name = "pgvector HNSW" if system == "hnsw" else "diskvec"
            cur = rows[key].setdefault(
                (f"{name}, SQL, {regime}", regime), {"points": []}
            )
            continue
        if cur is None:
            continue
        m = re.match(r"CREATE INDEX: ([\d.]+) s", line)
        if m:
            cur["build"] = f"{float(m.group(1)):.1f} s"
            continue
        m = re.match(r"index size: ([\d.]+) MB(?:; codes cache in a backend: ([\d.]+) MB)?", line)
        if m:
            cur["size"] = f"{float(m.group(1)):.0f} MB"
            if m.group(2):
                cur["memory"] = f"{float(m.group(2)):.1f} MB per backend (codes)"
            continue
        f = [x.strip() for x in line.strip("|").split("|")]
        if len(f) == 5 and f[0].isdigit():
            cur["points"].append(
                {"knob": f[0], "recall": float(f[1]), "qps": float(f[2]), "p50": f[3]}
            )
        elif len(f) == 5 and f[0].startswith("exact"):
            exact[(key, regime, system)] = f"{float(f[2]):.1f}"


def parse_engine(path, rows):
    """benches/engine.rs output (CRC on every read: the default store)."""
    key, cur, build, memory = None, None, None, None
    for line in open(path):
        m = re.match(r"== (\w+) (\w+): n=(\d+)", line)
        if m:
            key = (m.group(1), METRICS.get(m.group(2), m.group(2)))
            cur = rows[key].setdefault(("diskvec engine, in-process", "in-process"), {"points": []})
            continue
        if cur is None:
            continue
        if line.startswith("-- same file store"):
            cur = None  # only the default store's sweep
            continue
        m = re.match(r"build ([\d.]+) s wall", line)
        if m:
            cur["build"] = f"{float(m.group(1)):.1f} s"
        m = re.match(r"codes in memory: ([\d.]+) MiB.*on disk (\d+) B/vector", line)
        if m:
            cur["memory"] = f"{float(m.group(1)):.1f} MiB (codes)"
            cur["size"] = f"{m.group(2)} B/vector"
        f = line.split()
        if len(f) >= 4 and f[0].isdigit():
            cur["points"].append(
                {"knob": f[0], "recall": float(f[2]), "qps": float(f[3]), "p50": "-"}
            )


def parse_hnswlib(path, rows):
    """benches/peers/hnswlib_glove.py output."""
    cur = None
    for line in open(path):
        m = re.match(r"hnswlib (\w+): build ([\d.]+) s", line)
        if m:
            key = ("glove50", METRICS.get(m.group(1), m.group(1)))
            cur = rows[key].setdefault(("hnswlib 0.8.0, in-process", "in-process"), {"points": []})
            cur["build"] = f"{float(m.group(2)):.1f} s"
            continue
        m = re.match(r"\s+ef\s+(\d+) recall@10 ([\d.]+) QPS (\d+)", line)
        if m and cur is not None:
            cur["points"].append(
                {"knob": m.group(1), "recall": float(m.group(2)), "qps": float(m.group(3)), "p50": "-"}
            )


def main(logs):
    rows = defaultdict(dict)
    exact = {}
    for name in sorted(os.listdir(logs)):
        path = os.path.join(logs, name)
        if name.startswith(("sql", "peer_", "capped")) and name.endswith(".txt"):
            parse_sql(path, rows, exact)
        elif name == "engine.txt":
            parse_engine(path, rows)
        elif name == "hnswlib.txt":
            parse_hnswlib(path, rows)
    order = ["diskvec, SQL", "pgvector HNSW, SQL", "diskvec engine", "hnswlib"]
    for key in sorted(rows, key=lambda k: (list(SETS).index(k[0]) if k[0] in SETS else 9, k[1])):
        systems = rows[key]
        print(f"**{SETS.get(key[0], key[0])}, {key[1]}** (first point with recall@10 ≥ {TARGET})")
        print()
        print("| system | recall@10 | QPS | p50 ms | at | build | index size | memory | exact search QPS, same run |")
        print("|---|---:|---:|---:|---|---:|---:|---|---:|")
        for (label, regime), r in sorted(
            systems.items(),
            key=lambda kv: ([i for i, o in enumerate(order) if kv[0][0].startswith(o)] or [9])[0],
        ):
            p = first_at_target(r["points"])
            if p is None:
                continue
            knob = "ef" if "HNSW" in label or "hnswlib" in label else "list"
            sys_key = "hnsw" if "HNSW" in label else "diskvec"
            ex = exact.get((key, regime, sys_key), "-")
            print(
                f"| {label} | {p['recall']:.4f} | {p['qps']:.0f} | {p['p50']} | {knob} {p['knob']} "
                f"| {r.get('build', '-')} | {r.get('size', '-')} | {r.get('memory', '-')} | {ex} |"
            )
        print()


if __name__ == "__main__":
    main(sys.argv[1])
