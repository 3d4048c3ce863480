//! How many distinct pages a search reads, and how many of them a cache of
//! a given size would miss: the figure that decides a query's speed when
//! the index does not fit in memory (each miss is a read from disk). The
//! searches run in process over a store that records every page read;
//! the cache is simulated (least recently used, shared by all queries,
//! warmed by one pass over them first), sized as a fraction of the
//! index's pages. Prints a table; it is not a timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench page_locality`
//! Env: `DISKVEC_BENCH_SETS=glove50,wordnet384` (default both),
//!      `DISKVEC_BENCH_LISTS=16,32,64,96`, `DISKVEC_BENCH_CACHE=8,4`
//!      (cache = index pages / each figure), `DISKVEC_BENCH_SCAN=search`
//!      (`Index::search`, the default) or `stream` (the streaming scan SQL
//!      runs, its first ten rows), `DISKVEC_BENCH_READ_AHEAD=0` (with more,
//!      the pages asked for ahead are counted too: *asked/q*, and
//!      *unread/q* those the query then did not read),
//!      `DISKVEC_BENCH_BITS` (code bits per dimension; default the
//!      index's own), `DISKVEC_BENCH_WAIT=1` (the store says its reads
//!      wait on I/O, as Postgres' does while the index is not in shared
//!      buffers: the walk takes its candidates in batches).
//!      *sim µs/q*: a query's simulated time over the first cache size,
//!      each page not in it read in 100 µs from its ask, 8 µs of work a
//!      read (how far the reads overlap; not a measured time).

use diskvec_engine::dataset::{self, recall};
use diskvec_engine::{
    BlockNo, Index, MemStore, Metric, Options, Page, PageStore, ScanParams, SearchParams,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

/// A memory store that records the pages read and those asked for ahead,
/// in the order they came, while `events` holds a list.
#[derive(Default)]
struct Recording {
    inner: MemStore,
    /// Reads (true) and asks (false).
    events: Mutex<Option<Vec<(bool, BlockNo)>>>,
    /// What `reads_wait` answers.
    wait: bool,
}

impl Recording {
    fn note(&self, read: bool, b: BlockNo) {
        if let Some(e) = self.events.lock().as_mut() {
            e.push((read, b));
        }
    }
}

impl PageStore for Recording {
    type PageRef<'a> = <MemStore as PageStore>::PageRef<'a>;
    fn read(&self, b: BlockNo) -> diskvec_engine::Result<Self::PageRef<'_>> {
        self.note(true, b);
        self.inner.read(b)
    }
    fn prefetch(&self, b: BlockNo) {
        self.note(false, b);
    }
    fn reads_wait(&self) -> bool {
        self.wait
    }
    fn write(&self, b: BlockNo, page: &Page) -> diskvec_engine::Result<()> {
        self.inner.write(b, page)
    }
    fn modify<R>(
        &self,
        b: BlockNo,
        f: impl FnOnce(&mut Page) -> diskvec_engine::Result<R>,
    ) -> diskvec_engine::Result<R> {
        self.inner.modify(b, f)
    }
    fn extend(&self) -> diskvec_engine::Result<BlockNo> {
        self.inner.extend()
    }
    fn free(&self, b: BlockNo) -> diskvec_engine::Result<()> {
        self.inner.free(b)
    }
    fn len(&self) -> BlockNo {
        self.inner.len()
    }
    fn commit(&self) -> diskvec_engine::Result<()> {
        self.inner.commit()
    }
}

/// Least recently used set of pages, by a tick per use.
struct Lru {
    cap: usize,
    tick: u64,
    at: HashMap<BlockNo, u64>,
    order: std::collections::BTreeMap<u64, BlockNo>,
}

impl Lru {
    fn new(cap: usize) -> Self {
        Lru {
            cap,
            tick: 0,
            at: HashMap::new(),
            order: Default::default(),
        }
    }
    /// A cache of `cap` pages warmed by one pass over `per_query`'s reads.
    fn warmed(cap: usize, per_query: &[Vec<BlockNo>]) -> Self {
        let mut lru = Lru::new(cap);
        per_query.iter().flatten().for_each(|&b| {
            lru.touch(b);
        });
        lru
    }
    fn contains(&self, b: BlockNo) -> bool {
        self.at.contains_key(&b)
    }
    /// Use `b`; true on a miss.
    fn touch(&mut self, b: BlockNo) -> bool {
        self.tick += 1;
        let miss = match self.at.insert(b, self.tick) {
            Some(old) => {
                self.order.remove(&old);
                false
            }
            None => true,
        };
        self.order.insert(self.tick, b);
        if self.at.len() > self.cap {
            let (&t, &victim) = self.order.iter().next().unwrap();
            self.order.remove(&t);
            self.at.remove(&victim);
        }
        miss
    }
}

/// Simulated time of one query's reads and asks, in microseconds, over
/// `lru` (shared by all queries): a page not in it takes `IO_US` from its
/// ask (or its read, if never asked) until it can be read; asks of pages
/// already cached or on their way cost nothing, others `ASK_US`; every
/// read then costs `NODE_US` of the walk's own work. Reads wait, asks do
/// not: the figure shows how much of a query's reading overlaps.
fn simulate(lru: &mut Lru, events: &[(bool, BlockNo)]) -> f64 {
    const IO_US: f64 = 100.0;
    const ASK_US: f64 = 3.0;
    const NODE_US: f64 = 8.0;
    let mut t = 0.0f64;
    let mut inflight: HashMap<BlockNo, f64> = HashMap::new();
    for &(read, b) in events {
        if !read {
            if !lru.contains(b) && !inflight.contains_key(&b) {
                inflight.insert(b, t + IO_US);
                t += ASK_US;
            }
            continue;
        }
        if !lru.contains(b) {
            t = t.max(inflight.remove(&b).unwrap_or(t + IO_US));
        }
        lru.touch(b);
        t += NODE_US;
    }
    t
}

fn main() {
    let sets = std::env::var("DISKVEC_BENCH_SETS").unwrap_or_else(|_| "glove50,wordnet384".into());
    let lists: Vec<usize> = std::env::var("DISKVEC_BENCH_LISTS")
        .unwrap_or_else(|_| "16,32,64,96".into())
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    let caches: Vec<usize> = std::env::var("DISKVEC_BENCH_CACHE")
        .unwrap_or_else(|_| "8,4".into())
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    let stream = std::env::var("DISKVEC_BENCH_SCAN").is_ok_and(|s| s == "stream");
    let read_ahead: usize = std::env::var("DISKVEC_BENCH_READ_AHEAD")
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let wait = std::env::var("DISKVEC_BENCH_WAIT").is_ok_and(|w| w == "1");
    for set in sets.split(',') {
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        let n = ds.base.rows;
        let mut opts = Options::new(dim, Metric::Cosine);
        opts.bits = std::env::var("DISKVEC_BENCH_BITS")
            .ok()
            .and_then(|b| b.parse().ok());
        let store = Recording {
            wait,
            ..Recording::default()
        };
        let mut index = Index::create(store, opts).unwrap();
        let ids: Vec<u64> = (0..n as u64).collect();
        index.build(&ds.base.data, &ids, usize::MAX).unwrap();
        index.commit().unwrap();
        let pages = index.store().len() as usize;
        let nq = ds.queries.rows;
        let truth: Vec<Vec<u32>> = (0..nq)
            .map(|i| ds.gt.row(i).iter().map(|&x| x as u32).collect())
            .collect();
        println!(
            "\n== {set} cosine: n={n} dim={dim} queries={nq} index pages={pages}, {}, read_ahead {read_ahead}{}",
            if stream { "streaming scan, 10 rows" } else { "search" },
            if wait { ", reads wait" } else { "" }
        );
        print!(
            "{:>6} {:>9} {:>8} {:>9}",
            "list", "recall@10", "reads/q", "pages/q"
        );
        for c in &caches {
            print!(" {:>12}", format!("miss/q 1/{c}"));
        }
        println!(" {:>8} {:>8} {:>9}", "asked/q", "unread/q", "sim µs/q");
        for &list in &lists {
            let params = SearchParams {
                search_list_size: list,
                rerank: 16,
                read_ahead,
            };
            let scan = ScanParams {
                search: params,
                ..ScanParams::default()
            };
            let mut per_query = Vec::with_capacity(nq);
            let mut results = Vec::with_capacity(nq);
            let (mut distinct, mut asked, mut unread) = (0, 0, 0);
            let mut events = Vec::with_capacity(nq);
            for q in ds.queries.data.chunks_exact(dim) {
                *index.store().events.lock() = Some(Vec::new());
                let r: Vec<u64> = if stream {
                    let it = index.search_iter(q, &scan).unwrap();
                    it.take(10).map(|r| r.unwrap().0).collect()
                } else {
                    let r = index.search(q, 10, &params).unwrap();
                    r.into_iter().map(|x| x.0).collect()
                };
                let log = index.store().events.lock().take().unwrap();
                let read: Vec<BlockNo> = log.iter().filter(|e| e.0).map(|e| e.1).collect();
                let read_set: HashSet<_> = read.iter().collect();
                distinct += read_set.len();
                let ahead: HashSet<_> = log.iter().filter(|e| !e.0).map(|e| e.1).collect();
                asked += ahead.len();
                unread += ahead.iter().filter(|b| !read_set.contains(b)).count();
                per_query.push(read);
                events.push(log);
                results.push(r);
            }
            let reads: usize = per_query.iter().map(|r| r.len()).sum();
            print!(
                "{list:>6} {:>9.4} {:>8.1} {:>9.1}",
                recall(&results, &truth, 10),
                reads as f64 / nq as f64,
                distinct as f64 / nq as f64
            );
            for &c in &caches {
                let mut lru = Lru::warmed(pages / c, &per_query);
                let misses: usize = per_query
                    .iter()
                    .map(|r| r.iter().filter(|&&b| lru.touch(b)).count())
                    .sum();
                print!(" {:>12.1}", misses as f64 / nq as f64);
            }
            // The simulated time over the first cache size, warmed by a pass.
            let mut lru = Lru::warmed(pages / caches.first().copied().unwrap_or(8), &per_query);
            let sim: f64 = events.iter().map(|e| simulate(&mut lru, e)).sum();
            println!(
                " {:>8.1} {:>8.1} {:>9.0}",
                asked as f64 / nq as f64,
                unread as f64 / nq as f64,
                sim / nq as f64
            );
        }
    }
}
