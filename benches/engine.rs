//! Engine figures on the real data sets, next to exact brute force: recall@10
//! against QPS on one thread, build time, code memory, bytes per vector on
//! disk and pages read per query. Prints a table; it is not a timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench engine`
//! Env: `DISKVEC_BENCH_SETS=glove50,wordnet384` (default both),
//!      `DISKVEC_BENCH_N=100000` (base subset), `DISKVEC_BENCH_RERANK=16`, `DISKVEC_BENCH_METRICS=cos,l2,ip`
//!      (l2/ip use brute-force truth for the first 200 queries),
//!      `DISKVEC_BENCH_STORE=file|mem` (default file, in a temp dir; the file
//!      store is swept twice: CRC verified on every read, where a node read
//!      checks the 256-byte sectors it touches, then on first read only),
//!      `DISKVEC_BENCH_REPEAT=3` (passes per point: QPS is the best, median beside it),
//!      `DISKVEC_BENCH_QUERIES=200` (queries for l2/ip, whose truth is brute force),
//!      `DISKVEC_BENCH_KEEP=dir` (file store: keep the built index in `dir`,
//!      named by set, metric, size and build options, and reuse it on the
//!      next run with the same ones, to iterate on search without rebuilding),
//!      `DISKVEC_BENCH_R`, `_L`, `_ALPHA`, `_BITS` (build options).

use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::file_store::Verify;
use diskvec_engine::{FileStore, Index, MemStore, Metric, Options, PageStore, SearchParams};
use std::time::Instant;

fn main() {
    let sets = std::env::var("DISKVEC_BENCH_SETS").unwrap_or_else(|_| "glove50,wordnet384".into());
    let metrics = std::env::var("DISKVEC_BENCH_METRICS").unwrap_or_else(|_| "cos".into());
    let limit: Option<usize> = std::env::var("DISKVEC_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok());
    let store_kind = std::env::var("DISKVEC_BENCH_STORE").unwrap_or_else(|_| "file".into());
    println!(
        "SIMD: {}; threads for build: {}",
        diskvec_engine::distance::simd_description(),
        rayon::current_num_threads()
    );
    for set in sets.split(',') {
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        let n = limit.unwrap_or(ds.base.rows).min(ds.base.rows);
        let base = &ds.base.data[..n * dim];
        for m in metrics.split(',') {
            let metric = match m {
                "l2" => Metric::L2,
                "ip" => Metric::InnerProduct,
                _ => Metric::Cosine,
            };
            // Truth: the shipped cosine top-100 for the full set, else brute force.
            let nq = if metric == Metric::Cosine && n == ds.base.rows {
                ds.queries.rows
            } else {
                env_or("DISKVEC_BENCH_QUERIES", 200usize).min(ds.queries.rows)
            };
            let queries = &ds.queries.data[..nq * dim];
            let truth: Vec<Vec<u32>> = if metric == Metric::Cosine && n == ds.base.rows {
                (0..nq)
                    .map(|i| ds.gt.row(i).iter().map(|&x| x as u32).collect())
                    .collect()
            } else {
                brute_force(base, dim, queries, 10, metric)
            };
            println!("\n== {set} {m}: n={n} dim={dim} queries={nq} store={store_kind}");
            let opts = options(dim, metric);
            if store_kind == "mem" {
                let index = build(MemStore::new(), base, opts, metric);
                print_header_and_brute_force(base, dim, queries, metric);
                let label = format!("engine {set} {m} (memory store)");
                sweep(&index, dim, queries, &truth, &label);
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let kept = std::env::var("DISKVEC_BENCH_KEEP").ok().map(|d| {
                let b = opts.bits.map_or("auto".into(), |b| b.to_string());
                std::path::Path::new(&d).join(format!(
                    "{set}-{m}-n{n}-R{}-L{}-a{}-b{b}.dv",
                    opts.max_degree, opts.build_list_size, opts.alpha
                ))
            });
            let mut index = match kept.as_ref().filter(|p| p.exists()) {
                Some(path) => {
                    println!("reusing {}", path.display());
                    Index::open(FileStore::open(path).unwrap()).unwrap()
                }
                None => {
                    let path = kept.unwrap_or_else(|| dir.path().join("index.dv"));
                    build(FileStore::create(path).unwrap(), base, opts, metric)
                }
            };
            print_header_and_brute_force(base, dim, queries, metric);
            let label = format!("engine {set} {m} (CRC on every read)");
            sweep(&index, dim, queries, &truth, &label);
            println!("-- same file store, CRC verified on first read only (Verify::FirstRead):");
            index.store_mut().set_verify(Verify::FirstRead);
            let label = format!("engine {set} {m} (CRC on first read)");
            sweep(&index, dim, queries, &truth, &label);
        }
    }
}

/// `key` from the environment, parsed, else `default`.
fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Default options, with `DISKVEC_BENCH_R`, `_L`, `_ALPHA` and `_BITS` applied.
fn options(dim: usize, metric: Metric) -> Options {
    let mut opts = Options::new(dim, metric);
    opts.max_degree = env_or("DISKVEC_BENCH_R", opts.max_degree);
    opts.build_list_size = env_or("DISKVEC_BENCH_L", opts.build_list_size);
    opts.alpha = env_or("DISKVEC_BENCH_ALPHA", opts.alpha);
    opts.bits = std::env::var("DISKVEC_BENCH_BITS")
        .ok()
        .and_then(|b| b.parse().ok())
        .or(opts.bits);
    opts
}

/// Build an index of `base` in `store` and print what the build cost.
fn build<S: PageStore>(store: S, base: &[f32], opts: Options, metric: Metric) -> Index<S> {
    let dim = opts.dim;
    let n = base.len() / dim;
    let mut index = Index::create(store, opts).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    let cpu0 = cpu_seconds();
    let budget = env_or("DISKVEC_BENCH_BUILD_MB", 0usize) << 20;
    index
        .build(base, &ids, if budget == 0 { usize::MAX } else { budget })
        .unwrap();
    index.commit().unwrap();
    let build = t.elapsed().as_secs_f64();
    let build_cpu = cpu_seconds() - cpu0;
    let opts = index.options();
    let pruning = if metric == Metric::InnerProduct {
        format!(
            " (pruning with {:.4}: scaled to the norms)",
            index.pruning_alpha()
        )
    } else {
        String::new()
    };
    println!(
        "build {build:.1} s wall, {build_cpu:.1} s CPU ({} threads), R={} L={} alpha={}{pruning} bits={}",
        rayon::current_num_threads(),
        opts.max_degree,
        opts.build_list_size,
        opts.alpha,
        opts.bits.unwrap()
    );
    println!(
        "nodes a search from the entry cannot reach: {}",
        index.unreachable_nodes().unwrap()
    );
    println!(
        "codes in memory: {:.1} MiB total ({} B/vector of code+factors = 1/{:.1} of raw {} B); on disk {:.0} B/vector",
        index.code_memory_bytes() as f64 / (1 << 20) as f64,
        index.code_bytes_per_vector(),
        (dim * 4) as f64 / index.code_bytes_per_vector() as f64,
        dim * 4,
        index.store().len() as f64 * diskvec_engine::PAGE_SIZE as f64 / n as f64
    );
    index
}

/// The table's header and its first row: exact brute force on one thread,
/// over the first 100 queries.
fn print_header_and_brute_force(base: &[f32], dim: usize, queries: &[f32], metric: Metric) {
    let t = Instant::now();
    for q in queries.chunks_exact(dim).take(100) {
        let mut d: Vec<(f32, u64)> = base
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, v)| {
                let x = match metric {
                    Metric::L2 => diskvec_engine::distance::l2_squared(q, v),
                    _ => -diskvec_engine::distance::dot(q, v),
                };
                (x as f32, i as u64)
            })
            .collect();
        d.select_nth_unstable_by(9, |a, b| a.0.total_cmp(&b.0));
        std::hint::black_box(&d[..10]);
    }
    let bf_qps = (queries.len() / dim).min(100) as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:>8} {:>7} {:>10} {:>11} {:>8} {:>10} {:>9}",
        "list", "rerank", "recall@10", "QPS(1 thr)", "median", "pages/q", "expanded"
    );
    println!(
        "{:>8} {:>7} {:>10} {:>11.0} {:>8} {:>10} {:>9}",
        "brute", "-", "1.000*", bf_qps, "-", "-", "-"
    );
    println!("(* brute force is exact by construction)");
}

/// Prints the recall/QPS table, plus one `curve` line per point (label,
/// recall, QPS, tab-separated) for `benches/report.sh` to plot.
fn sweep<S: PageStore>(
    index: &Index<S>,
    dim: usize,
    queries: &[f32],
    truth: &[Vec<u32>],
    label: &str,
) {
    let nq = queries.len() / dim;
    let lists: Vec<usize> = std::env::var("DISKVEC_BENCH_LISTS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 16, 24, 32, 48, 64, 96, 128, 192]);
    // Warm-up: one pass over every query touches the pages they need, so
    // the figures below are for a warm page cache (as a long-running process).
    let warm = SearchParams {
        search_list_size: lists.iter().copied().max().unwrap_or(64),
        rerank: 16,
        read_ahead: 0,
    };
    for q in queries.chunks_exact(dim) {
        index.search(q, 10, &warm).unwrap();
    }
    let rerank: usize = env_or("DISKVEC_BENCH_RERANK", 16);
    let repeat: usize = env_or("DISKVEC_BENCH_REPEAT", 3usize).max(1);
    for &list in &lists {
        let params = SearchParams {
            search_list_size: list,
            rerank,
            read_ahead: 0,
        };
        // The same queries `repeat` times: this VM's speed drifts by up to 2x
        // from one second to the next (neighbours' load on shared caches),
        // so the best pass is the figure and the median is shown beside it.
        let mut rates = Vec::with_capacity(repeat);
        let (mut results, mut pages, mut expanded) = (Vec::new(), 0u64, 0u64);
        for _ in 0..repeat {
            results = Vec::with_capacity(nq);
            (pages, expanded) = (0, 0);
            let t = Instant::now();
            for q in queries.chunks_exact(dim) {
                let (r, st) = index.search_with_stats(q, 10, &params).unwrap();
                pages += st.pages_read;
                expanded += st.expanded;
                results.push(r.into_iter().map(|x| x.0).collect::<Vec<u64>>());
            }
            rates.push(nq as f64 / t.elapsed().as_secs_f64());
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        let (qps, median) = (rates[repeat - 1], rates[repeat / 2]);
        let r = recall(&results, truth, 10);
        println!(
            "{list:>8} {:>7} {r:>10.4} {qps:>11.0} {median:>8.0} {:>10.1} {:>9.1}",
            params.rerank,
            pages as f64 / nq as f64,
            expanded as f64 / nq as f64
        );
        eprintln!("curve\t{label}\t{r:.4}\t{qps:.0}");
    }
}

/// User + system CPU seconds of this process (from /proc), so build figures
/// can be read on a loaded machine too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}
