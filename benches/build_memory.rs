//! The bounded build's memory against its budget, in process: heap bytes
//! in use at the build's peak above what was in use before it began, for a
//! bulk load (rows pushed one at a time, as Postgres' build pushes them)
//! spilled past `maintenance_work_mem`-like budgets, and the process's
//! resident anonymous memory (`RssAnon`, sampled) above its level before,
//! which adds what the allocator keeps around the bytes in use. Pages are
//! not counted in the heap: they live in a memory-mapped page file (resident
//! as file pages, as Postgres' buffers are shared memory), and page-sized
//! buffers are the only page-sized allocations; the file store's overlay of
//! at most 64 dirty pages (512 KiB) is in `RssAnon`. Prints a table; it is not a
//! timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench build_memory`
//! Env: `DISKVEC_BENCH_BUDGETS=glove50:16MB,wordnet384:32MB` (set:budget),
//!      `DISKVEC_BENCH_METRICS=cos` (cos, l2, ip).

use diskvec_engine::dataset;
use diskvec_engine::page::PAGE_SIZE;
use diskvec_engine::{BulkLoad, FileStore, Index, Metric, Options};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// This process's resident anonymous memory in bytes (Linux).
fn rss_anon() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb << 10)
}

/// Samples `rss_anon` every few milliseconds until dropped; `peak` is the
/// highest seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(rss_anon()));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Relaxed) {
                p.fetch_max(rss_anon(), Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> usize {
        self.stop.store(true, Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("sampler");
        self.peak.load(Relaxed).max(rss_anon())
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let budgets = std::env::var("DISKVEC_BENCH_BUDGETS")
        .unwrap_or_else(|_| "glove50:16MB,wordnet384:32MB".into());
    let metrics = std::env::var("DISKVEC_BENCH_METRICS").unwrap_or_else(|_| "cos".into());
    let dir = std::env::temp_dir().join(format!("diskvec-build-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "| set | metric | rows | budget | heap peak above start | heap / budget | RssAnon peak above start | RssAnon / budget | build s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
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
            let path = dir.join(format!("{set}-{m}.pages"));
            let _ = std::fs::remove_file(&path);
            let mut store = FileStore::create(&path).unwrap();
            // Few dirty pages in memory, as Postgres' buffers hold the
            // build's pages outside its budget.
            store.set_overlay_limit(64);
            let index = Index::create(store, Options::new(dim, metric)).unwrap();
            let start = IN_USE.load(Relaxed);
            PEAK.store(start, Relaxed);
            let rss_start = rss_anon();
            let rss = RssSampler::start();
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
            let rss_peak = rss.peak().saturating_sub(rss_start);
            println!(
                "| {set} | {m} | {} | {} MB | {:.1} MB | {:.2} | {:.1} MB | {:.2} | {secs:.1} |",
                ds.base.rows,
                budget >> 20,
                mib(peak),
                peak as f64 / budget as f64,
                mib(rss_peak),
                rss_peak as f64 / budget as f64
            );
            let _ = std::fs::remove_file(&path);
        }
    }
    let _ = std::fs::remove_dir(&dir);
}
