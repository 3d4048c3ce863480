# hnswlib (M = 16, ef_construction = 64) on GloVe-400k, per metric: the
# in-process reference the engine's targets name, measured on this machine.
# Same 1000 queries and truth as `benches/engine.rs` (shipped cosine top-10,
# brute force for l2 and ip); best of 3 passes per ef, one thread, one
# knn_query call per query (as the engine bench searches one at a time).
#
# Run: python3 -m venv /tmp/hwvenv && /tmp/hwvenv/bin/pip install numpy hnswlib==0.8.0
#      /tmp/hwvenv/bin/python benches/peers/hnswlib_glove.py cosine l2 ip
import sys, time, numpy as np, hnswlib, os
d = os.path.expanduser("~/.cache/diskvec-data/glove50")
base = np.load(f"{d}/base.npy"); q = np.load(f"{d}/queries.npy")[:1000]
def truth(space):
    if space == "l2":
        bn = (base * base).sum(1)
        out = []
        for i in range(0, len(q), 100):
            s = bn[None, :] - 2 * q[i:i+100] @ base.T
            out.append(np.argsort(s, 1)[:, :10])
        return np.vstack(out)
    if space == "ip":
        out = []
        for i in range(0, len(q), 100):
            s = -(q[i:i+100] @ base.T)
            out.append(np.argsort(s, 1)[:, :10])
        return np.vstack(out)
    return np.load(f"{d}/gt.npy")[:1000, :10]
for space in sys.argv[1:]:
    gt = truth(space)
    p = hnswlib.Index(space=space, dim=base.shape[1])
    p.init_index(max_elements=len(base), M=16, ef_construction=64, random_seed=1)
    p.set_num_threads(2)
    t = time.time(); p.add_items(base, np.arange(len(base))); build = time.time() - t
    p.set_num_threads(1)
    print(f"hnswlib {space}: build {build:.1f} s (2 threads)", flush=True)
    for ef in [32, 48, 64, 96, 128, 192]:
        p.set_ef(ef)
        best = 0
        for _ in range(3):
            t = time.time()
            labels = [p.knn_query(x, k=10)[0][0] for x in q]
            best = max(best, len(q) / (time.time() - t))
        rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(labels, gt)])
        print(f"  ef {ef:4d} recall@10 {rec:.4f} QPS {best:.0f}", flush=True)
