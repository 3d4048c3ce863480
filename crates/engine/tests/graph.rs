//! Graph invariants under random builds, inserts, deletes and
//! consolidation: degree <= R, no self loops, no dangling ids.

mod common;

use diskvec_engine::{Index, MemStore, Metric, Options, SearchParams};
use proptest::prelude::*;
use std::collections::HashSet;

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::L2),
        Just(Metric::InnerProduct),
        Just(Metric::Cosine)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants_hold(
        n in 20usize..300,
        dim in 2usize..24,
        r in 3usize..12,
        l in 4usize..24,
        metric in metric(),
        bulk in any::<bool>(),
        seed in any::<u64>(),
        delete_frac in 0.0f64..0.7,
    ) {
        let data = common::clustered(n, dim, 5, seed);
        let mut opts = Options::new(dim, metric);
        opts.max_degree = r;
        opts.build_list_size = l;
        let mut index = Index::create(MemStore::new(), opts).unwrap();
        let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
        let half = n / 2;
        if bulk {
            index.build(&data[..half * dim], &ids[..half], usize::MAX).unwrap();
        } else {
            for i in 0..half {
                index.insert(ids[i], &data[i * dim..(i + 1) * dim]).unwrap();
            }
        }
        for i in half..n {
            index.insert(ids[i], &data[i * dim..(i + 1) * dim]).unwrap();
        }
        index.check_graph(false).unwrap();
        // Delete a pseudo-random subset.
        let mut r = common::rng(seed ^ 1);
        let mut deleted = HashSet::new();
        for &id in &ids {
            if (((r() + 1.0) / 2.0) as f64) < delete_frac {
                prop_assert!(index.delete(id).unwrap());
                deleted.insert(id);
            }
        }
        prop_assert!(!index.delete(u64::MAX).unwrap());
        // Tombstones are never returned.
        for q in data.chunks_exact(dim).take(5) {
            for (id, _) in index.search(q, 10, &SearchParams::default()).unwrap() {
                prop_assert!(!deleted.contains(&id));
            }
        }
        // Every deleted node leaves the graph; a deleted entry point's slot
        // is freed by the next consolidation (a search may still start there).
        let removed = index.consolidate().unwrap();
        prop_assert!(removed + 1 >= deleted.len() && removed <= deleted.len());
        index.check_graph(true).unwrap();
        prop_assert_eq!(removed + index.consolidate().unwrap(), deleted.len());
        prop_assert!(!index.has_tombstones());
        prop_assert_eq!(index.len(), n - deleted.len());
        // Freed slots are reused; invariants still hold.
        for (j, &id) in deleted.iter().enumerate().take(20) {
            let v = &data[(j % n) * dim..(j % n + 1) * dim];
            index.insert(id, v).unwrap();
        }
        index.check_graph(false).unwrap();
        for (id, nbrs) in index.graph().unwrap() {
            prop_assert!(nbrs.len() <= opts_r(&index));
            prop_assert!(!nbrs.contains(&id));
        }
    }
}

fn opts_r(index: &Index<MemStore>) -> usize {
    index.options().max_degree
}

/// Deleting most of an index and consolidating keeps recall: the
/// FreshDiskANN repair reconnects the survivors.
#[test]
fn recall_survives_deletes() {
    recall_after_deleting_two_thirds(None);
}

/// The same with the repair's memory holding no vectors, and a third of
/// them: the rest are read from their pages.
#[test]
fn recall_survives_deletes_with_little_memory() {
    recall_after_deleting_two_thirds(Some(0));
    recall_after_deleting_two_thirds(Some(4000 * 4 + 1400 * 16 * 4));
}

fn recall_after_deleting_two_thirds(memory: Option<usize>) {
    let (n, dim) = (4000, 16);
    let data = common::clustered(n, dim, 20, 9);
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index.build(&data, &ids, usize::MAX).unwrap();
    for id in (0..n as u64).filter(|i| i % 3 != 0) {
        index.delete(id).unwrap();
    }
    let mut plan = index.begin_consolidation().unwrap().unwrap();
    if let Some(bytes) = memory {
        plan.set_memory(bytes);
    }
    // All 2,666 deleted slots freed, but for the entry point's if it was
    // one (kept for the next consolidation).
    let freed = index.consolidate_with(plan, || Ok(())).unwrap();
    assert!((2665..=2666).contains(&freed), "{freed} freed");
    index.check_graph(true).unwrap();
    let keep: Vec<usize> = (0..n).filter(|i| i % 3 == 0).collect();
    let base: Vec<f32> = keep
        .iter()
        .flat_map(|&i| data[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let queries = common::clustered(100, dim, 20, 77);
    let truth = diskvec_engine::dataset::brute_force(&base, dim, &queries, 10, Metric::L2);
    let truth: Vec<Vec<u32>> = truth
        .into_iter()
        .map(|t| t.into_iter().map(|x| keep[x as usize] as u32).collect())
        .collect();
    let got: Vec<Vec<u64>> = queries
        .chunks_exact(dim)
        .map(|q| {
            index
                .search(q, 10, &SearchParams::default())
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect()
        })
        .collect();
    let r = diskvec_engine::dataset::recall(&got, &truth, 10);
    assert!(
        r >= 0.95,
        "recall after deleting 2/3 and consolidating: {r}"
    );
}
