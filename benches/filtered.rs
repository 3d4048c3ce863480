//! Filtered streaming search in process (the engine under the SQL figures
//! of `benches/filters.rs`): recall@10 against the exact filtered top 10,
//! pages read, code estimates and QPS on one thread, for uniform attributes
//! matching 70%, 30%, 10%, 1% and 0.1% of the rows and, where the set has
//! `base_ids.txt` (WordNet), the part of speech each query shares with its
//! neighbours (`pos`), held in the index (the filter
//! steers the search) or not (the caller drops what does not match, as the
//! executor does for a plain WHERE). Prints a table; it is not a timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench filtered`
//! Env: `DISKVEC_BENCH_SETS=wordnet384` (or glove50, glove100, ...),
//!      `DISKVEC_BENCH_QUERIES=200`, `DISKVEC_BENCH_ORDERS=strict,relaxed`,
//!      `DISKVEC_BENCH_FILTERS=70,30,10,1,0.1,pos` (percent matching, or
//!      the part of speech),
//!      `DISKVEC_BENCH_LIST=128` (the search list size),
//!      `DISKVEC_BENCH_BITS` (code bits per dimension; default the
//!      index's),
//!      `DISKVEC_BENCH_MODES=index,caller` (filter in the index, or left to
//!      the caller),
//!      `DISKVEC_BENCH_KEEP=dir` (keep the built index in `dir` and reuse
//!      it on the next run).

use diskvec_engine::dataset;
use diskvec_engine::{
    AttrKind, AttrValue, Cond, FileStore, Filter, Index, Metric, Options, ScanOrder, ScanParams,
    SearchParams,
};
use std::time::Instant;

/// The attribute columns: a row's value in column `c` is uniform over
/// `MODULI[c]` values (a hash of the row, so not tied to its position).
const MODULI: [u64; 3] = [10, 100, 1000];

fn uniform(row: usize, c: usize) -> u64 {
    let mut x = (row as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (c as u64) << 32;
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    x % MODULI[c]
}

/// The part of speech of each line of a WordNet ids file (`n.`, `v.`,
/// `a.`/`s.`), as `benches/filters.rs` reads it: nouns 0, adjectives 1,
/// verbs 2. Empty if the set has no such file.
fn parts_of_speech(set: &str, file: &str, rows: usize) -> Vec<u64> {
    std::fs::read_to_string(dataset::data_dir().join(format!("{set}/{file}")))
        .map(|s| {
            s.lines()
                .take(rows)
                .map(|id| match id.as_bytes().first() {
                    Some(b'n') => 0,
                    Some(b'a' | b's') => 1,
                    _ => 2,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sets = std::env::var("DISKVEC_BENCH_SETS").unwrap_or_else(|_| "wordnet384".into());
    let orders = std::env::var("DISKVEC_BENCH_ORDERS").unwrap_or_else(|_| "strict,relaxed".into());
    for set in sets.split(',') {
        let ds = dataset::load(set);
        let (n, dim) = (ds.base.rows, ds.base.cols);
        let nq: usize = env_or("DISKVEC_BENCH_QUERIES", 200usize).min(ds.queries.rows);
        let queries = &ds.queries.data[..nq * dim];
        // Column `c` of row `i` is `cols[c][i]`: the uniform ones, then the
        // part of speech where the set has it.
        let mut cols: Vec<Vec<u64>> = (0..MODULI.len())
            .map(|c| (0..n).map(|i| uniform(i, c)).collect())
            .collect();
        let pos = parts_of_speech(set, "base_ids.txt", n);
        let query_pos = parts_of_speech(set, "queries_ids.txt", nq);
        let has_pos = pos.len() == n && query_pos.len() == nq;
        if has_pos {
            cols.push(pos);
        }
        let mut opts = Options::new(dim, Metric::Cosine);
        opts.attrs = vec![AttrKind::Int; cols.len()];
        opts.bits = std::env::var("DISKVEC_BENCH_BITS")
            .ok()
            .and_then(|b| b.parse().ok());
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("DISKVEC_BENCH_KEEP")
            .map(|d| {
                std::path::Path::new(&d).join(format!(
                    "{set}-filtered-{}-{}.dv",
                    cols.len(),
                    opts.bits()
                ))
            })
            .unwrap_or_else(|_| dir.path().join("index.dv"));
        let index = if path.exists() {
            println!("reusing {}", path.display());
            Index::open(FileStore::open(&path).unwrap()).unwrap()
        } else {
            let mut index = Index::create(FileStore::create(&path).unwrap(), opts).unwrap();
            let ids: Vec<u64> = (0..n as u64).collect();
            let values: Vec<AttrValue> = (0..n)
                .flat_map(|i| cols.iter().map(move |col| AttrValue::Int(col[i] as i64)))
                .collect();
            let t = Instant::now();
            index
                .build_with(&ds.base.data, &ids, &values, usize::MAX)
                .unwrap();
            index.commit().unwrap();
            println!("build {:.1} s", t.elapsed().as_secs_f64());
            index
        };
        let norms: Vec<f32> = ds
            .base
            .data
            .chunks_exact(dim)
            .map(|v| diskvec_engine::distance::dot(v, v).sqrt() as f32)
            .collect();
        println!("\n== {set}: n={n} dim={dim} queries={nq}");
        println!(
            "{:>6} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9} {:>9} {:>8}",
            "filter",
            "match",
            "order",
            "in index",
            "recall@10",
            "QPS",
            "pages/q",
            "est/q",
            "late/q"
        );
        // (label, column, each query's values): 100% (every value: no
        // filter, the unfiltered streaming scan), 70% and 30% (IN seven
        // and three values), 10%, 1%, 0.1%, and the query's part of speech.
        let only = std::env::var("DISKVEC_BENCH_FILTERS").unwrap_or_default();
        let list = env_or(
            "DISKVEC_BENCH_LIST",
            SearchParams::default().search_list_size,
        );
        let modes = std::env::var("DISKVEC_BENCH_MODES").unwrap_or_else(|_| "index,caller".into());
        let mut filters: Vec<(String, usize, Vec<Vec<u64>>)> =
            [(0usize, 10u64), (0, 7), (0, 3), (0, 1), (1, 1), (2, 1)]
                .into_iter()
                .map(|(c, keys)| {
                    let m = MODULI[c];
                    let want = (0..nq)
                        .map(|q| (0..keys).map(|k| (q as u64 * 7 + k) % m).collect())
                        .collect();
                    (format!("{}", 100.0 * keys as f64 / m as f64), c, want)
                })
                .collect();
        if has_pos {
            let want = query_pos.iter().map(|&p| vec![p]).collect();
            filters.push(("pos".into(), MODULI.len(), want));
        }
        for (label, c, want) in filters {
            if !only.is_empty() && !only.split(',').any(|x| x == label) {
                continue;
            }
            let col = &cols[c];
            let share = (0..nq)
                .map(|q| col.iter().filter(|v| want[q].contains(v)).count())
                .sum::<usize>() as f64
                / (nq * n) as f64;
            // Each query filters on its own values; truth by brute force.
            let truth: Vec<Vec<u64>> = (0..nq)
                .map(|q| {
                    let qv = &queries[q * dim..(q + 1) * dim];
                    let mut d: Vec<(f32, u64)> = (0..n)
                        .filter(|&i| want[q].contains(&col[i]))
                        .map(|i| {
                            let v = ds.base.row(i);
                            (
                                -(diskvec_engine::distance::dot(qv, v) as f32)
                                    / norms[i].max(1e-30),
                                i as u64,
                            )
                        })
                        .collect();
                    d.sort_by(|a, b| a.0.total_cmp(&b.0));
                    d.iter().take(10).map(|x| x.1).collect()
                })
                .collect();
            for order in orders.split(',') {
                let order = match order {
                    "relaxed" => ScanOrder::Relaxed,
                    "off" => ScanOrder::Off,
                    _ => ScanOrder::Strict,
                };
                for in_index in [true, false] {
                    if !modes.contains(if in_index { "index" } else { "caller" }) {
                        continue;
                    }
                    // A first pass warms the page cache; the second is timed.
                    for pass in 0..2 {
                        let (mut hits, mut pages, mut est, mut late) = (0usize, 0u64, 0u64, 0u64);
                        let t = Instant::now();
                        for q in 0..nq {
                            let mut p = ScanParams {
                                search: SearchParams {
                                    search_list_size: list,
                                    ..SearchParams::default()
                                },
                                order,
                                max_reads: 20_000,
                                ..ScanParams::default()
                            };
                            if in_index {
                                p.filter = Filter::new().and(Cond::AnyOf {
                                    column: c,
                                    keys: want[q].clone(),
                                });
                            }
                            let qv = &queries[q * dim..(q + 1) * dim];
                            let mut it = index.search_iter(qv, &p).unwrap();
                            let mut got = Vec::with_capacity(10);
                            for r in it.by_ref() {
                                let (id, _) = r.unwrap();
                                if want[q].contains(&col[id as usize]) {
                                    got.push(id);
                                    if got.len() == 10 {
                                        break;
                                    }
                                }
                            }
                            let s = it.stats();
                            pages += s.pages_read;
                            est += s.estimated;
                            late += s.late;
                            hits += got.iter().filter(|id| truth[q].contains(id)).count();
                        }
                        let secs = t.elapsed().as_secs_f64();
                        if pass == 0 {
                            continue;
                        }
                        println!(
                            "{:>6} {:>5.1}% {:>8} {:>9} {:>10.4} {:>8.0} {:>9.0} {:>9.0} {:>8.2}",
                            label,
                            100.0 * share,
                            format!("{order:?}"),
                            in_index,
                            hits as f64 / (nq * 10) as f64,
                            nq as f64 / secs,
                            pages as f64 / nq as f64,
                            est as f64 / nq as f64,
                            late as f64 / nq as f64
                        );
                    }
                }
            }
        }
    }
}
