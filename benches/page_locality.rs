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
//!      *unread/q* those the query then did not read).

use diskvec_engine::dataset::{self, recall};
use diskvec_engine::{
    BlockNo, Index, MemStore, Metric, Options, Page, PageStore, ScanParams, SearchParams,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

/// A memory store that records the pages read, and those asked for ahead,
/// while `reads` and `asked` hold lists.
#[derive(Default)]
struct Recording {
    inner: MemStore,
    reads: Mutex<Option<Vec<BlockNo>>>,
    asked: Mutex<Option<Vec<BlockNo>>>,
}

impl Recording {
    fn note(&self, b: BlockNo) {
        if let Some(r) = self.reads.lock().as_mut() {
            r.push(b);
        }
    }
}

impl PageStore for Recording {
    type PageRef<'a> = <MemStore as PageStore>::PageRef<'a>;
    fn read(&self, b: BlockNo) -> diskvec_engine::Result<Self::PageRef<'_>> {
        self.note(b);
        self.inner.read(b)
    }
    fn prefetch(&self, b: BlockNo) {
        if let Some(r) = self.asked.lock().as_mut() {
            r.push(b);
        }
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
    for set in sets.split(',') {
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        let n = ds.base.rows;
        let opts = Options::new(dim, Metric::Cosine);
        let mut index = Index::create(Recording::default(), opts).unwrap();
        let ids: Vec<u64> = (0..n as u64).collect();
        index.build(&ds.base.data, &ids, usize::MAX).unwrap();
        index.commit().unwrap();
        let pages = index.store().len() as usize;
        let nq = ds.queries.rows;
        let truth: Vec<Vec<u32>> = (0..nq)
            .map(|i| ds.gt.row(i).iter().map(|&x| x as u32).collect())
            .collect();
        println!(
            "\n== {set} cosine: n={n} dim={dim} queries={nq} index pages={pages}, {}, read_ahead {read_ahead}",
            if stream { "streaming scan, 10 rows" } else { "search" }
        );
        print!(
            "{:>6} {:>9} {:>8} {:>9}",
            "list", "recall@10", "reads/q", "pages/q"
        );
        for c in &caches {
            print!(" {:>12}", format!("miss/q 1/{c}"));
        }
        println!(" {:>8} {:>8}", "asked/q", "unread/q");
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
            for q in ds.queries.data.chunks_exact(dim) {
                *index.store().reads.lock() = Some(Vec::new());
                *index.store().asked.lock() = Some(Vec::new());
                let r: Vec<u64> = if stream {
                    let it = index.search_iter(q, &scan).unwrap();
                    it.take(10).map(|r| r.unwrap().0).collect()
                } else {
                    let r = index.search(q, 10, &params).unwrap();
                    r.into_iter().map(|x| x.0).collect()
                };
                let read = index.store().reads.lock().take().unwrap();
                let ahead = index.store().asked.lock().take().unwrap();
                let read_set: HashSet<_> = read.iter().collect();
                distinct += read_set.len();
                let ahead: HashSet<_> = ahead.iter().collect();
                asked += ahead.len();
                unread += ahead.iter().filter(|b| !read_set.contains(*b)).count();
                per_query.push(read);
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
                let mut lru = Lru::new(pages / c);
                for r in &per_query {
                    r.iter().for_each(|&b| {
                        lru.touch(b);
                    });
                }
                let misses: usize = per_query
                    .iter()
                    .map(|r| r.iter().filter(|&&b| lru.touch(b)).count())
                    .sum();
                print!(" {:>12.1}", misses as f64 / nq as f64);
            }
            println!(
                " {:>8.1} {:>8.1}",
                asked as f64 / nq as f64,
                unread as f64 / nq as f64
            );
        }
    }
}
