//! Recall and size after churn, against a fresh build on the same rows, in
//! process: the question behind the soak's recall and size gap (issue 19)
//! without a server. Prints figures; asserts nothing.
//!
//! A bulk build on the first `N` rows of a set, then `ROUNDS` rounds of
//! deleting a fraction of the live rows at random, consolidating (as
//! VACUUM does), and inserting as many unused rows; after each round,
//! recall@10 at each search list (brute-force truth over the live rows) and
//! the index's pages. Then the same with inserts only (a bulk build on half
//! the rows, the other half inserted one by one), and a fresh bulk build on
//! the final live rows. A second pass does the rounds as a server would:
//! the inserts from four handles at once, beside the consolidation, each
//! handle with its own copy of the code area or (`DISKVEC_CHURN_SHARED=1`)
//! all of them on one area in a code pool, as the server's backends are
//! when diskvec is preloaded.
//!
//! Run: `cargo bench -p diskvec-engine --bench churn`
//! Env: `DISKVEC_BENCH_SETS` (one set, default glove50), `DISKVEC_CHURN_N`
//! (live rows, default 100000), `DISKVEC_CHURN_ROUNDS` (default 4),
//! `DISKVEC_CHURN_FRACTION` (deleted and inserted per round, default 0.2),
//! `DISKVEC_BENCH_QUERIES` (default 200), `DISKVEC_BENCH_LISTS` (default
//! 32,64,128).

use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::heap_pool::heap_pool;
use diskvec_engine::{
    AreaKey, CodePool, Index, MemStore, Metric, Options, PageStore, SearchParams,
};
use std::collections::HashSet;
use std::time::Instant;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct Bench<'a> {
    data: &'a [f32],
    dim: usize,
    queries: &'a [f32],
    lists: Vec<usize>,
}

impl Bench<'_> {
    fn row(&self, id: u64) -> &[f32] {
        &self.data[id as usize * self.dim..(id as usize + 1) * self.dim]
    }

    /// Recall@10 per list over the live rows `live` (ids are row numbers).
    fn recalls<S: PageStore>(&self, index: &Index<S>, live: &[u64]) -> Vec<f64> {
        let mut flat = Vec::with_capacity(live.len() * self.dim);
        for &id in live {
            flat.extend_from_slice(self.row(id));
        }
        let truth: Vec<Vec<u32>> = brute_force(&flat, self.dim, self.queries, 10, Metric::Cosine)
            .into_iter()
            .map(|r| r.into_iter().map(|i| live[i as usize] as u32).collect())
            .collect();
        self.lists
            .iter()
            .map(|&l| {
                let p = SearchParams {
                    search_list_size: l,
                    ..SearchParams::default()
                };
                let got: Vec<Vec<u64>> = self
                    .queries
                    .chunks_exact(self.dim)
                    .map(|q| {
                        index
                            .search(q, 10, &p)
                            .unwrap()
                            .into_iter()
                            .map(|r| r.0)
                            .collect()
                    })
                    .collect();
                recall(&got, &truth, 10)
            })
            .collect()
    }

    fn fresh(&self, live: &[u64]) -> Index<MemStore> {
        self.fresh_in(MemStore::new(), live)
    }

    fn fresh_in<S: PageStore>(&self, store: S, live: &[u64]) -> Index<S> {
        let mut index = Index::create(store, Options::new(self.dim, Metric::Cosine)).unwrap();
        let mut flat = Vec::with_capacity(live.len() * self.dim);
        for &id in live {
            flat.extend_from_slice(self.row(id));
        }
        index.build(&flat, live, usize::MAX).unwrap();
        index
    }

    /// The line of a fresh bulk build on the rows `live`, for comparison.
    fn fresh_line(&self, live: &[u64]) {
        let t = Instant::now();
        let fresh = self.fresh(live);
        self.line(
            "fresh build, same rows",
            &fresh,
            live,
            t.elapsed().as_secs_f64(),
        );
    }

    fn line<S: PageStore>(&self, what: &str, index: &Index<S>, live: &[u64], secs: f64) {
        let r = self.recalls(index, live);
        let r: Vec<String> = r.iter().map(|x| format!("{x:.4}")).collect();
        println!(
            "| {what} | {} | {} | {:.1} | {} | {secs:.1} |",
            live.len(),
            index.slots(),
            index.store().len() as f64 * 8192.0 / 1e6,
            r.join(" | ")
        );
    }
}

/// A small deterministic generator (xorshift), for reproducible churn.
struct Rng(u64);
impl Rng {
    /// `k` distinct rows of `live`, at random.
    fn pick(&mut self, live: &[u64], k: usize) -> HashSet<u64> {
        let mut chosen = HashSet::new();
        while chosen.len() < k {
            chosen.insert(live[self.below(live.len())]);
        }
        chosen
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn main() {
    let set = std::env::var("DISKVEC_BENCH_SETS").unwrap_or_else(|_| "glove50".into());
    let ds = dataset::load(&set);
    let dim = ds.base.cols;
    let n: usize = env_or("DISKVEC_CHURN_N", 100_000usize);
    let rounds: usize = env_or("DISKVEC_CHURN_ROUNDS", 4);
    let fraction: f64 = env_or("DISKVEC_CHURN_FRACTION", 0.2);
    let nq: usize = env_or("DISKVEC_BENCH_QUERIES", 200usize).min(ds.queries.rows);
    let lists: Vec<usize> = std::env::var("DISKVEC_BENCH_LISTS")
        .unwrap_or_else(|_| "32,64,128".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let per_round = (n as f64 * fraction) as usize;
    assert!(
        n + rounds * per_round <= ds.base.rows,
        "{set} has {} rows: fewer than N + rounds * N * fraction",
        ds.base.rows
    );
    let b = Bench {
        data: &ds.base.data,
        dim,
        queries: &ds.queries.data[..nq * dim],
        lists: lists.clone(),
    };
    println!("## {set}: {n} live rows, {rounds} rounds of {per_round} deletes + consolidation + {per_round} inserts; cosine, default options, {nq} queries\n");
    let heads: Vec<String> = lists
        .iter()
        .map(|l| format!("recall@10, list {l}"))
        .collect();
    println!(
        "| index | live rows | slots | size MB | {} | seconds |",
        heads.join(" | ")
    );
    println!("|---|---:|---:|---:|{}---:|", "---:|".repeat(lists.len()));

    let parts =
        std::env::var("DISKVEC_CHURN_PARTS").unwrap_or_else(|_| "serial,concurrent,inserts".into());
    if parts.contains("serial") {
        serial(&b, n, rounds, per_round);
    }
    if parts.contains("concurrent") {
        concurrent(&b, n, rounds, per_round);
    }
    if parts.contains("inserts") {
        inserts_only(&b, n);
    }
}

/// Deletes, consolidation and inserts one after the other, one handle.
fn serial(b: &Bench, n: usize, rounds: usize, per_round: usize) {
    let mut live: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    let mut index = b.fresh(&live);
    b.line("bulk build", &index, &live, t.elapsed().as_secs_f64());
    let mut next = n as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 1..=rounds {
        let t = Instant::now();
        let dead = rng.pick(&live, per_round);
        index.delete_where(|id| dead.contains(&id)).unwrap();
        let tc = Instant::now();
        index.consolidate().unwrap();
        let consolidation = tc.elapsed().as_secs_f64();
        live.retain(|id| !dead.contains(id));
        for _ in 0..per_round {
            index.insert(next, b.row(next)).unwrap();
            live.push(next);
            next += 1;
        }
        b.line(
            &format!("after round {round} (consolidation {consolidation:.1} s)"),
            &index,
            &live,
            t.elapsed().as_secs_f64(),
        );
    }
    b.fresh_line(&live);
}

/// As a server does it: the rounds' inserts from `WRITERS` handles at once
/// (each refreshing before it writes), while another consolidates.
fn concurrent(b: &Bench, n: usize, rounds: usize, per_round: usize) {
    const WRITERS: usize = 4;
    // DISKVEC_CHURN_OVERLAP=0: consolidate before the writers start.
    let overlap = env_or("DISKVEC_CHURN_OVERLAP", 1usize) == 1;
    // DISKVEC_CHURN_SHARED=1: every handle on one code area in a pool.
    let shared = env_or("DISKVEC_CHURN_SHARED", 0usize) == 1;
    let pool = shared.then(|| heap_pool(256 << 20, 4).0);
    let key = AreaKey {
        db: 1,
        spc: 1,
        rel: 1,
        oid: 1,
    };
    let open = |store| open_handle(store, pool, key);
    let store = MemStore::new();
    let mut live: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    drop(b.fresh_in(&store, &live));
    let mut index = open(&store);
    b.line(
        "bulk build (shared store)",
        &index,
        &live,
        t.elapsed().as_secs_f64(),
    );
    let mut next = n as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 1..=rounds {
        let t = Instant::now();
        let dead = rng.pick(&live, per_round);
        index.delete_where(|id| dead.contains(&id)).unwrap();
        live.retain(|id| !dead.contains(id));
        let new: Vec<u64> = (next..next + per_round as u64).collect();
        let gate = parking_lot::RwLock::new(());
        if !overlap {
            index.consolidate().unwrap();
        }
        next += per_round as u64;
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                let (store, new, b) = (&store, &new, &b);
                let (gate, open) = (&gate, &open);
                scope.spawn(move || {
                    let mut h = open(store);
                    for &id in new.iter().skip(w).step_by(WRITERS) {
                        let _insert = gate.read();
                        h.refresh().unwrap();
                        h.insert(id, b.row(id)).unwrap();
                    }
                });
            }
            // As VACUUM does: consolidation begins while no insert is in
            // flight (the server's VacuumLock), then runs beside them.
            let plan = if overlap {
                let _exclusive = gate.write();
                index.begin_consolidation().unwrap()
            } else {
                None
            };
            if let Some(plan) = plan {
                index.consolidate_with(plan, || Ok(())).unwrap();
            }
        });
        index.refresh().unwrap();
        live.extend_from_slice(&new);
        b.line(
            &format!(
                "after round {round}, {WRITERS} writers {} consolidation{}",
                if overlap { "beside" } else { "after" },
                if shared { ", shared codes" } else { "" }
            ),
            &index,
            &live,
            t.elapsed().as_secs_f64(),
        );
    }
    drop(index);
    b.fresh_line(&live);
}

/// A handle on `store`, its codes in `pool` when there is one.
fn open_handle<'a>(
    store: &'a MemStore,
    pool: Option<&'static CodePool>,
    key: AreaKey,
) -> Index<&'a MemStore> {
    match pool {
        Some(pool) => Index::open_in(store, pool, key).unwrap(),
        None => Index::open(store).unwrap(),
    }
}

/// Inserts alone: half built, half inserted.
fn inserts_only(b: &Bench, n: usize) {
    let half: Vec<u64> = (0..(n / 2) as u64).collect();
    let t = Instant::now();
    let mut grown = b.fresh(&half);
    for id in (n / 2) as u64..n as u64 {
        grown.insert(id, b.row(id)).unwrap();
    }
    let all: Vec<u64> = (0..n as u64).collect();
    b.line(
        "half built, half inserted",
        &grown,
        &all,
        t.elapsed().as_secs_f64(),
    );
    b.fresh_line(&all);
}
