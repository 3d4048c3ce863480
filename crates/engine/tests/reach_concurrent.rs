//! The reachability pass beside writers, as VACUUM runs it: one handle
//! walks the graph and links the nodes it does not reach while other
//! handles insert, so lists it reads may link nodes added after it began.
//! Afterwards the graph is valid, and once the writers are done a second
//! pass leaves every row reachable and found by a full scan.

mod common;

use diskvec_engine::{Index, MemStore, Metric, Options};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const DIM: usize = 16;
/// Rows inserted (one handle) before the pass: under inner product, with
/// norms spread fivefold, they leave many nodes unreached.
const BEFORE: usize = 2_000;
/// Rows the writers insert, some of them while the pass runs.
const DURING: usize = 1_000;
const WRITERS: usize = 2;

#[test]
fn the_pass_runs_beside_inserts() {
    let data = common::clustered(BEFORE + DURING, DIM, 20, 21);
    let row = |i: usize| &data[i * DIM..(i + 1) * DIM];
    let store = MemStore::new();
    let opts = Options {
        max_degree: 12,
        build_list_size: 32,
        ..Options::new(DIM, Metric::InnerProduct)
    };
    let mut index = Index::create(&store, opts).unwrap();
    for i in 0..BEFORE {
        index.insert(i as u64, row(i)).unwrap();
    }
    assert!(
        index.unreachable_nodes().unwrap() > 0,
        "the data must leave nodes unreached"
    );
    drop(index);

    let next = AtomicUsize::new(BEFORE);
    let (started, finished) = (AtomicBool::new(false), AtomicBool::new(false));
    let inserted_during = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| {
                let mut w = Index::open(&store).unwrap();
                while !started.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= BEFORE + DURING {
                        break;
                    }
                    w.insert(i as u64, row(i)).unwrap();
                    if !finished.load(Ordering::Acquire) {
                        inserted_during.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let mut v = Index::open(&store).unwrap();
        started.store(true, Ordering::Release);
        // Pausing between nodes, as VACUUM's delay points do, so that the
        // writers interleave.
        v.link_unreached_with(|| {
            std::thread::sleep(std::time::Duration::from_micros(50));
            Ok(())
        })
        .unwrap();
        finished.store(true, Ordering::Release);
    });
    assert!(
        inserted_during.load(Ordering::Relaxed) > 0,
        "no insert overlapped the pass"
    );

    let mut index = Index::open(&store).unwrap();
    index.check_graph(false).unwrap();
    assert_eq!(index.len(), BEFORE + DURING);
    index.link_unreached_with(|| Ok(())).unwrap();
    assert_eq!(index.unreachable_nodes().unwrap(), 0);
    let missing = common::never_returned(&index, row(0), BEFORE + DURING);
    assert_eq!(missing, 0, "{missing} rows never returned by a full scan");
}
