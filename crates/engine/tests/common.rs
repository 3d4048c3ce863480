//! Shared helpers for the integration tests (included with `mod common`).
#![allow(dead_code)]

use diskvec_engine::dataset::{brute_force, recall};
use diskvec_engine::{Index, Metric, PageStore, ScanParams, SearchParams};

/// Deterministic pseudo-random floats in [-1, 1).
pub fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Clustered data: `n` points around `clusters` random centres, with a
/// non-zero mean and varied norms (so IP is not the same as cosine).
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let centres: Vec<f32> = (0..clusters * dim).map(|_| r() * 2.0 + 0.5).collect();
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % clusters) * dim..(i % clusters + 1) * dim];
        let scale = 0.5 + (r() + 1.0);
        out.extend(c.iter().map(|x| (x + r() * 0.8) * scale));
    }
    out
}

/// recall@k of the index against brute force on `base` (ids = row numbers).
pub fn measure<S: PageStore>(
    index: &Index<S>,
    base: &[f32],
    queries: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
    params: &SearchParams,
) -> f64 {
    let truth = brute_force(base, dim, queries, k, metric);
    let got: Vec<Vec<u64>> = queries
        .chunks_exact(dim)
        .map(|q| {
            index
                .search(q, k, params)
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect()
        })
        .collect();
    recall(&got, &truth, k)
}

/// Of rows `0..n` (ids = row numbers), how many a scan that walks the
/// whole graph from `query` never returns: the rows no search can reach.
pub fn never_returned<S: PageStore>(index: &Index<S>, query: &[f32], n: usize) -> usize {
    let mut seen = vec![false; n];
    for r in index.search_iter(query, &ScanParams::default()).unwrap() {
        seen[r.unwrap().0 as usize] = true;
    }
    seen.iter().filter(|s| !**s).count()
}
