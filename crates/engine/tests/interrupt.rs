//! A bulk build asks its stop check (`Index::set_stop`) as it works, on
//! every thread: once the check says stop, the build ends with
//! `Error::Interrupted`, in the graph build and in the cluster-at-a-time
//! build a small memory budget takes, and a build that is not stopped is
//! whole.

mod common;

use diskvec_engine::{Error, Index, MemStore, Metric, Options, SearchParams};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Stop checks answered so far, and the answer that says stop.
static ASKED: AtomicUsize = AtomicUsize::new(0);
static STOP_AT: AtomicUsize = AtomicUsize::new(usize::MAX);

fn stop_after_some() -> bool {
    ASKED.fetch_add(1, Ordering::Relaxed) >= STOP_AT.load(Ordering::Relaxed)
}

fn asked() -> usize {
    ASKED.load(Ordering::Relaxed)
}

// One test: the counters are global.
#[test]
fn builds_end_when_asked_to_stop() {
    let (n, dim) = (20_000, 16);
    let data = common::clustered(n, dim, 20, 5);
    let ids: Vec<u64> = (0..n as u64).collect();

    // Not stopped: the check is asked at least once a point, and the
    // graph is whole.
    ASKED.store(0, Ordering::Relaxed);
    let mut whole = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    whole.set_stop(stop_after_some);
    whole.build(&data, &ids, usize::MAX).unwrap();
    let per_build = asked();
    assert!(per_build >= 2 * n, "asked {per_build} times");
    assert_eq!(whole.len(), n);
    whole.check_graph(false).unwrap();
    let hits = whole
        .search(&data[..dim], 1, &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].0, 0);

    // Stopped a quarter of the way into the graph build: interrupted,
    // the points left in the batch in flight (at most 20,000) each asking
    // once more and doing nothing, and no further batch.
    ASKED.store(0, Ordering::Relaxed);
    STOP_AT.store(per_build / 4, Ordering::Relaxed);
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    index.set_stop(stop_after_some);
    let e = index.build(&data, &ids, usize::MAX).unwrap_err();
    assert!(matches!(e, Error::Interrupted), "{e}");
    let after = asked() - per_build / 4;
    assert!(after <= 20_000 + 64, "asked {after} times after the stop");

    // Stopped while the codes are encoded (each row asks once, on the
    // worker threads, as the node pages are written): interrupted too,
    // not a build with some codes missing.
    ASKED.store(0, Ordering::Relaxed);
    STOP_AT.store(per_build - n / 2, Ordering::Relaxed);
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    index.set_stop(stop_after_some);
    let e = index.build(&data, &ids, usize::MAX).unwrap_err();
    assert!(matches!(e, Error::Interrupted), "{e}");

    // By clusters (the budget is too small for the in-memory build):
    // stopped while the rows go to the node pages (asked every 1,024
    // rows), and later, in the first cluster's graph build.
    for (stop_at, most) in [(5, 6), (200, 200 + 20_000)] {
        ASKED.store(0, Ordering::Relaxed);
        STOP_AT.store(stop_at, Ordering::Relaxed);
        let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
        index.set_stop(stop_after_some);
        let e = index.build(&data, &ids, 1).unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e}");
        assert!(asked() <= most, "asked {} times", asked());
    }
}
