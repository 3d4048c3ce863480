//! The bounded build's memory against its budget, in process: heap bytes
//! in use at the build's peak above what was in use before it began, for a
//! bulk load (rows pushed one at a time, as Postgres' build pushes them)
//! spilled past `maintenance_work_mem`-like budgets. Pages are not counted:
//! the in-memory page store stands in for the disk, and its pages are the
//! only page-sized allocations. Prints a table; it is not a timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench build_memory`
//! Env: `DISKVEC_BENCH_BUDGETS=glove50:16MB,wordnet384:32MB` (set:budget),
//!      `DISKVEC_BENCH_METRICS=cos` (cos, l2, ip).

use diskvec_engine::dataset;
use diskvec_engine::page::PAGE_SIZE;
use diskvec_engine::{BulkLoad, Index, MemStore, Metric, Options};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting bytes in use (pages aside) and the peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn counted(layout: Layout) -> bool {
    layout.size() != PAGE_SIZE
}

fn grow(bytes: usize) {
    let now = IN_USE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counted(layout) {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && counted(layout) {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted(layout) {
            IN_USE.fetch_sub(layout.size(), Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new = Layout::from_size_align(new_size, layout.align()).expect("valid");
            if counted(layout) {
                IN_USE.fetch_sub(layout.size(), Relaxed);
            }
            if counted(new) {
                grow(new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let budgets = std::env::var("DISKVEC_BENCH_BUDGETS")
        .unwrap_or_else(|_| "glove50:16MB,wordnet384:32MB".into());
    let metrics = std::env::var("DISKVEC_BENCH_METRICS").unwrap_or_else(|_| "cos".into());
    println!("| set | metric | rows | budget | peak above start | peak / budget | build s |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for entry in budgets.split(',') {
        let (set, mb) = entry
            .split_once(':')
            .expect("set:budget, e.g. glove50:16MB");
        let budget: usize = mb.trim_end_matches("MB").parse::<usize>().expect("MB") << 20;
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        for m in metrics.split(',') {
            let metric = match m {
                "l2" => Metric::L2,
                "ip" => Metric::InnerProduct,
                _ => Metric::Cosine,
            };
            let store = MemStore::new();
            let index = Index::create(&store, Options::new(dim, metric)).unwrap();
            let start = IN_USE.load(Relaxed);
            PEAK.store(start, Relaxed);
            let t = Instant::now();
            let mut load = BulkLoad::new(index, budget).unwrap();
            for (i, v) in ds.base.data.chunks_exact(dim).enumerate() {
                load.push(i as u64, v, &[]).unwrap();
            }
            assert!(load.spilled(), "the budget holds the whole build");
            // As Postgres' build does: written, not read back.
            drop(load.write().unwrap());
            let secs = t.elapsed().as_secs_f64();
            let peak = PEAK.load(Relaxed) - start;
            println!(
                "| {set} | {m} | {} | {} MB | {:.1} MB | {:.2} | {secs:.1} |",
                ds.base.rows,
                budget >> 20,
                peak as f64 / (1 << 20) as f64,
                peak as f64 / budget as f64
            );
        }
    }
}
