"""Recall@10 vs QPS curves from the `curve` lines the benches print
(label, recall, QPS; tab-separated). One PNG per group of labels:
    plot.py CURVES.tsv OUTDIR
writes OUTDIR/<group>.png, a group being the label's first two words
("engine glove50", "sql glove50"); prints the file names."""
import collections
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    curves = collections.OrderedDict()
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or parts[0] != "curve":
                continue
            _, label, recall, qps = parts
            curves.setdefault(label, []).append((float(recall), float(qps)))
    groups = collections.OrderedDict()
    for label, points in curves.items():
        group = " ".join(label.split()[:2])
        groups.setdefault(group, []).append((label, points))
    os.makedirs(sys.argv[2], exist_ok=True)
    for group, series in groups.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label, points in series:
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        ax.axvline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 client)")
        ax.set_yscale("log")
        ax.set_title(group)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        name = group.replace(" ", "_") + ".png"
        fig.tight_layout()
        fig.savefig(os.path.join(sys.argv[2], name), dpi=110)
        plt.close(fig)
        print(name)


if __name__ == "__main__":
    main()
