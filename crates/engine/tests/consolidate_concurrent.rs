//! Consolidation beside writers, as Postgres runs it: handles insert while
//! another tombstones and consolidates, each insert holding a shared lock
//! that consolidation takes exclusively only to begin (the extension's
//! insert lock). Searches run throughout. Afterwards no live node links to
//! a removed one; once the reachability pass ran (as VACUUM runs it next)
//! every row is found; freed slots were reused, and recall is that of the
//! same work done one step at a time.

mod common;

use diskvec_engine::{Error, Index, MemStore, Metric, Options, PageStore, SearchParams};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

const WRITERS: usize = 3;
const QUERIES: usize = 200;
/// Rows inserted after the consolidation, into the slots it freed.
const TAIL: usize = 600;
/// Rows that must go in while the consolidation runs.
const OVERLAP: usize = 100;

struct Case {
    dim: usize,
    /// Rows built at the start.
    built: usize,
    /// Rows inserted during the consolidation (after the built ones).
    added: usize,
    data: Vec<f32>,
}

impl Case {
    fn new(dim: usize, built: usize, added: usize, seed: u64) -> Case {
        let data = common::clustered(built + added + QUERIES, dim, 20, seed);
        Case {
            dim,
            built,
            added,
            data,
        }
    }
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    fn dead(id: u64) -> bool {
        id % 10 == 3
    }
    fn build(&self, store: &MemStore, metric: Metric) {
        let mut index = Index::create(store, Options::new(self.dim, metric)).unwrap();
        let ids: Vec<u64> = (0..self.built as u64).collect();
        index
            .build(&self.data[..self.built * self.dim], &ids, usize::MAX)
            .unwrap();
    }
}

/// Inserts rows `built..built + added` from `WRITERS` handles while one
/// handle tombstones the dead rows and consolidates, pausing between nodes
/// so the others interleave, and a reader searches; the last `TAIL` rows
/// go in afterwards. Returns how many slots the consolidation freed.
fn run_concurrently(case: &Case, store: &MemStore) -> usize {
    let lock = RwLock::new(());
    let done = AtomicBool::new(false);
    let tombstoned = AtomicBool::new(false);
    let next = AtomicUsize::new(case.built);
    let freed = AtomicUsize::new(0);
    let consolidating = AtomicBool::new(false);
    let during = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                let mut index = Index::open(store).unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= case.built + case.added {
                        break;
                    }
                    // The last rows wait for the freed slots.
                    while i >= case.built + case.added - TAIL && !done.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                    let _shared = lock.read().unwrap();
                    index.refresh().unwrap();
                    index.insert(i as u64, case.row(i)).unwrap();
                    if consolidating.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
                        during.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        s.spawn(|| {
            // Searches never block and never return a deleted row.
            let mut index = Index::open(store).unwrap();
            let mut q = 0;
            while !done.load(Ordering::Relaxed) {
                let after_deletes = tombstoned.load(Ordering::Acquire);
                index.refresh().unwrap();
                let v = case.row(case.built + case.added + q % QUERIES);
                for (id, _) in index.search(v, 10, &SearchParams::default()).unwrap() {
                    let deleted = Case::dead(id) && id < case.built as u64;
                    assert!(!(after_deletes && deleted), "deleted {id} returned");
                }
                q += 1;
            }
        });
        s.spawn(|| {
            let mut index = Index::open(store).unwrap();
            index.refresh().unwrap();
            let yield_now = || {
                std::thread::yield_now();
                Ok(())
            };
            index
                .delete_where_with(|id| id < case.built as u64 && Case::dead(id), yield_now)
                .unwrap();
            tombstoned.store(true, Ordering::Release);
            let plan = {
                let _exclusive = lock.write().unwrap();
                index.begin_consolidation().unwrap().unwrap()
            };
            consolidating.store(true, Ordering::Relaxed);
            // Between nodes, let the writers in; until some rows went in
            // beside it (or the writers wait for the freed slots), wait
            // for them, so a busy scheduler cannot run it all alone.
            let writers_blocked = || next.load(Ordering::Relaxed) >= case.built + case.added - TAIL;
            let beside_writers = || {
                while during.load(Ordering::Relaxed) < 2 * OVERLAP && !writers_blocked() {
                    std::thread::yield_now();
                }
                std::thread::yield_now();
                Ok(())
            };
            freed.store(
                index.consolidate_with(plan, beside_writers).unwrap(),
                Ordering::Relaxed,
            );
            done.store(true, Ordering::Release);
        });
    });
    let during = during.into_inner();
    eprintln!("{during} rows inserted while the consolidation ran");
    assert!(
        during > OVERLAP,
        "the writers hardly overlapped the consolidation"
    );
    freed.into_inner()
}

/// The same rows and deletes, one step at a time: the baseline.
fn run_sequentially(case: &Case, store: &MemStore) {
    let mut index = Index::open(store).unwrap();
    index
        .delete_where(|id| id < case.built as u64 && Case::dead(id))
        .unwrap();
    index.consolidate().unwrap();
    for i in case.built..case.built + case.added {
        index.insert(i as u64, case.row(i)).unwrap();
    }
}

fn recall_of<S: PageStore>(case: &Case, store: S, metric: Metric) -> f64 {
    let index = Index::open(store).unwrap();
    let rows: Vec<usize> = (0..case.built + case.added)
        .filter(|&i| i >= case.built || !Case::dead(i as u64))
        .collect();
    let base: Vec<f32> = rows.iter().flat_map(|&i| case.row(i).to_vec()).collect();
    let n = case.built + case.added;
    let queries = &case.data[n * case.dim..];
    let truth = diskvec_engine::dataset::brute_force(&base, case.dim, queries, 10, metric);
    let truth: Vec<Vec<u32>> = truth
        .into_iter()
        .map(|t| t.into_iter().map(|x| rows[x as usize] as u32).collect())
        .collect();
    let p = SearchParams {
        search_list_size: 10,
        rerank: 0,
        read_ahead: 0,
    };
    let got: Vec<Vec<u64>> = queries
        .chunks_exact(case.dim)
        .map(|q| {
            index
                .search(q, 10, &p)
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect()
        })
        .collect();
    diskvec_engine::dataset::recall(&got, &truth, 10)
}

/// The two metrics' checks run one at a time. Side by side they put eight
/// threads on a two-core machine, and a writer or the consolidation
/// descheduled in the middle of an operation overlaps the others far more
/// than on a machine with a core per thread: the concurrent recall then
/// swung 0.02-0.024 below the sequential one in about one run in eight
/// (and within 0.005 of it run alone, ten runs), which measured the
/// scheduler, not the consolidation.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn check(case: &Case, metric: Metric) {
    // A failed check must not fail the other through the poisoned lock.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let seq = MemStore::new();
    case.build(&seq, metric);
    run_sequentially(case, &seq);
    let baseline = recall_of(case, &seq, metric);

    let store = MemStore::new();
    case.build(&store, metric);
    let freed = run_concurrently(case, &store);
    let deleted = (0..case.built as u64).filter(|&id| Case::dead(id)).count();
    let mut index = Index::open(&store).unwrap();
    let live = case.built - deleted + case.added;
    assert_eq!(index.len(), live);
    // No live node links to a removed one (deleted or freed).
    index.check_graph(true).unwrap();
    // Then the reachability pass, as VACUUM runs it after consolidating.
    // An insert beside the consolidation can still leave a row with no
    // in-link (at most one in 22 runs; before inserts gave a tombstone's
    // link to the new node, see `add_back_edge`, more than this bound in
    // half the runs and up to 71):
    // the pass links it (fewer than were unreached when one it links
    // reaches others), and no row may stay unreached.
    let unreached = index.unreachable_nodes().unwrap();
    eprintln!("{metric:?}: {unreached} nodes unreached after the concurrent run");
    assert!(
        unreached * 2000 <= live,
        "{unreached} of {live} nodes unreached"
    );
    let linked = index.link_unreached_with(|| Ok(())).unwrap();
    assert!(
        linked <= unreached,
        "{linked} linked, {unreached} unreached"
    );
    assert_eq!(index.unreachable_nodes().unwrap(), 0);
    index.check_graph(true).unwrap();
    assert!(freed + 1 >= deleted, "{freed} of {deleted} freed");
    // Slots freed while the writers ran were reused by them.
    let slots = index.slots();
    assert!(
        slots < case.built + case.added,
        "{slots} slots: no freed slot was reused"
    );
    let found = (0..case.built + case.added)
        .filter(|&i| i >= case.built || !Case::dead(i as u64))
        .filter(|&i| {
            let hits = index
                .search(case.row(i), 10, &SearchParams::default())
                .unwrap();
            hits.iter().any(|h| h.0 == i as u64)
        })
        .count();
    assert!(
        found as f64 >= 0.995 * live as f64,
        "only {found} of {live} rows found by their own vector"
    );
    drop(index);
    let r = recall_of(case, &store, metric);
    eprintln!("{metric:?}: recall@10 {baseline} one step at a time, {r} with consolidation beside {WRITERS} writers");
    assert!(r >= baseline - 0.02, "recall@10 {r}, sequential {baseline}");
    // A second consolidation finds nothing left but a kept entry point.
    let mut index = Index::open(&store).unwrap();
    assert!(index.consolidate().unwrap() <= 1);
    assert!(!index.has_tombstones());
    index.check_graph(true).unwrap();
}

#[test]
fn consolidation_beside_inserts_l2() {
    check(&Case::new(24, 5000, 6000, 21), Metric::L2);
}

#[test]
fn consolidation_beside_inserts_cosine() {
    check(&Case::new(32, 5000, 6000, 22), Metric::Cosine);
}

/// Stopped part-way (Postgres: a cancel), the index is valid and searches
/// well; the next consolidation finishes the job.
#[test]
fn interrupted_consolidation_is_finished_by_the_next() {
    let case = Case::new(16, 4000, 0, 23);
    let store = MemStore::new();
    case.build(&store, Metric::L2);
    let mut index = Index::open(&store).unwrap();
    let deleted = index.delete_where(Case::dead).unwrap();
    let plan = index.begin_consolidation().unwrap().unwrap();
    assert_eq!(plan.len(), deleted);
    let mut calls = 0;
    let err = index
        .consolidate_with(plan, || {
            calls += 1;
            if calls > 1500 {
                Err(Error::Invalid("cancelled".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"));
    drop(index);
    // As a new handle sees it: valid, tombstones still there, none returned.
    let mut index = Index::open(&store).unwrap();
    index.check_graph(false).unwrap();
    assert!(
        index.check_graph(true).is_err(),
        "some nodes should still link to tombstones"
    );
    assert!(index.has_tombstones());
    for i in (0..case.built)
        .filter(|&i| !Case::dead(i as u64))
        .step_by(50)
    {
        let hits = index
            .search(case.row(i), 10, &SearchParams::default())
            .unwrap();
        assert!(hits.iter().all(|h| !Case::dead(h.0)));
        assert!(hits.iter().any(|h| h.0 == i as u64), "row {i} not found");
    }
    let freed = index.consolidate().unwrap();
    assert!(freed + 1 >= deleted && freed <= deleted);
    index.check_graph(true).unwrap();
    assert_eq!(index.len(), case.built - deleted);
}

/// Deleting every row moves the entry point off the graph: its slot is kept
/// for one consolidation (a search may still start from it), then freed,
/// and an insert starts a new graph.
#[test]
fn a_deleted_entry_point_is_freed_by_the_next_consolidation() {
    let case = Case::new(8, 300, 0, 24);
    let store = MemStore::new();
    case.build(&store, Metric::Cosine);
    let mut index = Index::open(&store).unwrap();
    assert_eq!(index.delete_where(|_| true).unwrap(), 300);
    assert_eq!(index.consolidate().unwrap(), 299);
    assert!(index.has_tombstones());
    assert!(index
        .search(case.row(0), 5, &SearchParams::default())
        .unwrap()
        .is_empty());
    assert_eq!(index.consolidate().unwrap(), 1);
    assert!(!index.has_tombstones());
    index.insert(7, case.row(7)).unwrap();
    index.insert(8, case.row(8)).unwrap();
    let hits = index
        .search(case.row(7), 1, &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].0, 7);
    assert_eq!(index.slots(), 300);
    index.check_graph(true).unwrap();
}
