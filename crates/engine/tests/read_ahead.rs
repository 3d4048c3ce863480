//! Read-ahead (`SearchParams::read_ahead`): a search asks its store for the
//! pages of the candidates it expands next, so that reads waiting on I/O
//! overlap. The hint changes nothing a search returns, and the pages it
//! asks for are the ones it goes on to read. While the store's reads wait
//! on I/O the walk also expands its candidates in batches, whose reads
//! overlap further.

mod common;

use diskvec_engine::dataset::brute_force;
use diskvec_engine::page::{BlockNo, Page, PageStore, Result};
use diskvec_engine::{Index, MemStore, Metric, Options, ScanParams, SearchParams};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Read(BlockNo),
    Prefetch(BlockNo),
}

/// The store's log, shared with the test.
type Log = Arc<Mutex<Vec<Event>>>;

/// A memory store that logs every read and prefetch.
struct Watched {
    inner: MemStore,
    log: Log,
    /// What `reads_wait` answers.
    wait: Arc<AtomicBool>,
}

impl PageStore for Watched {
    type PageRef<'a> = <MemStore as PageStore>::PageRef<'a>;
    fn read(&self, blkno: BlockNo) -> Result<Self::PageRef<'_>> {
        self.log.lock().push(Event::Read(blkno));
        self.inner.read(blkno)
    }
    fn prefetch(&self, blkno: BlockNo) {
        self.log.lock().push(Event::Prefetch(blkno));
    }
    fn reads_wait(&self) -> bool {
        self.wait.load(Relaxed)
    }
    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()> {
        self.inner.write(blkno, page)
    }
    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R> {
        self.inner.modify(blkno, f)
    }
    fn extend(&self) -> Result<BlockNo> {
        self.inner.extend()
    }
    fn free(&self, blkno: BlockNo) -> Result<()> {
        self.inner.free(blkno)
    }
    fn len(&self) -> BlockNo {
        self.inner.len()
    }
    fn commit(&self) -> Result<()> {
        self.inner.commit()
    }
}

fn params(read_ahead: usize) -> SearchParams {
    SearchParams {
        search_list_size: 48,
        rerank: 16,
        read_ahead,
    }
}

const DIM: usize = 24;

/// An index of 4,000 clustered vectors over a `Watched` store whose reads
/// do not wait, its log, and 50 queries from the same clusters.
fn watched_index(seed: u64) -> (Index<Watched>, Log, Vec<f32>) {
    let (index, log, _, queries) = waiting_index(seed, DIM, 40);
    (index, log, queries)
}

/// As `watched_index`, of `dim` dimensions around `clusters` centres, with
/// the switch that makes its reads wait.
fn waiting_index(
    seed: u64,
    dim: usize,
    clusters: usize,
) -> (Index<Watched>, Log, Arc<AtomicBool>, Vec<f32>) {
    let n = 4000;
    let data = common::clustered(n + 50, dim, clusters, seed);
    let (base, queries) = data.split_at(n * dim);
    let log = Arc::new(Mutex::new(Vec::new()));
    let wait = Arc::new(AtomicBool::new(false));
    let store = Watched {
        inner: MemStore::new(),
        log: log.clone(),
        wait: wait.clone(),
    };
    let mut index = Index::create(store, Options::new(dim, Metric::L2)).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index.build(base, &ids, usize::MAX).unwrap();
    (index, log, wait, queries.to_vec())
}

#[test]
fn read_ahead_asks_for_the_pages_a_search_reads_next_and_changes_no_result() {
    let (index, log, queries) = watched_index(7);

    let (mut asked, mut asked_then_read, mut node_reads, mut reads_asked_before) = (0, 0, 0, 0);
    for q in queries.chunks_exact(DIM) {
        log.lock().clear();
        let plain = index.search(q, 10, &params(0)).unwrap();
        assert!(
            log.lock().iter().all(|e| matches!(e, Event::Read(_))),
            "read_ahead 0 asked for pages"
        );
        let plain_stream: Vec<(u64, f32)> = index
            .search_iter(
                q,
                &ScanParams {
                    search: params(0),
                    ..ScanParams::default()
                },
            )
            .unwrap()
            .take(60)
            .map(|r| r.unwrap())
            .collect();

        log.lock().clear();
        let ahead = index.search(q, 10, &params(8)).unwrap();
        assert_eq!(plain, ahead, "read-ahead changed a result");
        let events = std::mem::take(&mut *log.lock());
        let ahead_stream: Vec<(u64, f32)> = index
            .search_iter(
                q,
                &ScanParams {
                    search: params(8),
                    ..ScanParams::default()
                },
            )
            .unwrap()
            .take(60)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            plain_stream, ahead_stream,
            "read-ahead changed a streamed result"
        );

        // The pages asked for are, mostly, read after.
        for (i, e) in events.iter().enumerate() {
            if let Event::Prefetch(b) = *e {
                asked += 1;
                if events[i + 1..].contains(&Event::Read(b)) {
                    asked_then_read += 1;
                }
            }
        }
        // Node reads after the first (the entry point's page is read before
        // anything is known to ask for).
        let first = events.iter().position(|e| matches!(e, Event::Prefetch(_)));
        if let Some(first) = first {
            for (i, e) in events.iter().enumerate().skip(first) {
                if let Event::Read(b) = *e {
                    node_reads += 1;
                    if events[..i].contains(&Event::Prefetch(b)) {
                        reads_asked_before += 1;
                    }
                }
            }
        }
    }
    println!(
        "pages asked for: {asked}, then read: {asked_then_read}; reads after the first ask: {node_reads}, asked for before: {reads_asked_before}"
    );
    assert!(asked > 0, "read_ahead 8 asked for nothing");
    assert!(
        asked_then_read * 10 >= asked * 6,
        "most pages asked for should be read: {asked_then_read} of {asked}"
    );
    assert!(
        reads_asked_before * 10 >= node_reads * 6,
        "most reads should have been asked for ahead: {reads_asked_before} of {node_reads}"
    );
}

/// A query of ten rows (`ORDER BY ... LIMIT 10`) asks for few pages it then
/// does not read: none past its tenth row, and few while the walk is still
/// approaching the query, when the candidates behind the best one are
/// mostly replaced before they are read.
#[test]
fn a_ten_row_scan_asks_for_the_pages_it_reads() {
    let (index, log, queries) = watched_index(11);
    let scan = |read_ahead| ScanParams {
        search: SearchParams {
            search_list_size: 32,
            rerank: 16,
            read_ahead,
        },
        ..ScanParams::default()
    };

    let (mut asked, mut unread, mut covered, mut reads) = (0, 0, 0, 0);
    for q in queries.chunks_exact(DIM) {
        let ten_rows = |read_ahead| -> Vec<(u64, f32)> {
            let rows = index.search_iter(q, &scan(read_ahead)).unwrap();
            rows.take(10).map(|r| r.unwrap()).collect()
        };
        let plain = ten_rows(0);
        log.lock().clear();
        let ahead = ten_rows(8);
        assert_eq!(plain, ahead, "read-ahead changed a streamed result");
        let events = std::mem::take(&mut *log.lock());
        let (mut read, mut wanted) = (HashSet::new(), HashSet::new());
        for e in events {
            match e {
                Event::Read(b) => read.insert(b),
                Event::Prefetch(b) => wanted.insert(b),
            };
        }
        asked += wanted.len();
        unread += wanted.difference(&read).count();
        covered += read.intersection(&wanted).count();
        reads += read.len();
    }
    println!("distinct pages asked for: {asked}, not read: {unread}; pages read: {reads}, asked for: {covered}");
    assert!(asked > 0, "read_ahead 8 asked for nothing");
    assert!(
        unread * 10 <= asked,
        "at most a tenth of the pages asked for should go unread: {unread} of {asked}"
    );
    assert!(
        covered * 10 >= reads * 6,
        "most pages read should have been asked for: {covered} of {reads}"
    );
}

/// The time a search's reads take if each page not yet read in it takes
/// `IO` from its ask (or from its read, if never asked) and every read
/// then `WORK` of the walk's own: how far its reads overlap.
fn simulated_time(events: &[Event]) -> u64 {
    const IO: u64 = 100;
    const WORK: u64 = 8;
    let (mut t, mut ready, mut read) = (0, std::collections::HashMap::new(), HashSet::new());
    for e in events {
        match *e {
            Event::Prefetch(b) => {
                if !read.contains(&b) {
                    ready.entry(b).or_insert(t + IO);
                }
            }
            Event::Read(b) => {
                if read.insert(b) {
                    t = t.max(ready.remove(&b).unwrap_or(t + IO));
                }
                t += WORK;
            }
        }
    }
    t
}

/// While reads wait on I/O, a walk expands its best candidates in batches
/// whose pages are all asked for first: its reads overlap more (less
/// simulated time), it reads a little more, and it finds as much. With
/// `read_ahead = 0` there are no batches.
#[test]
fn waiting_reads_are_taken_in_batches() {
    // Wider vectors than the other tests' (fewer nodes to a page, so a walk
    // reads mostly pages it has not read yet) and smaller clusters (a walk
    // that settles early, as on real data, rather than one that approaches
    // its query until the end).
    const WIDE: usize = 128;
    let (index, log, wait, queries) = waiting_index(13, WIDE, 400);
    let n = 4000;
    let base = &common::clustered(n + 50, WIDE, 400, 13)[..n * WIDE];
    let truth: Vec<HashSet<u64>> = brute_force(base, WIDE, &queries, 10, Metric::L2)
        .into_iter()
        .map(|t| t.into_iter().map(u64::from).collect())
        .collect();
    let run = |waits: bool, read_ahead: usize| {
        wait.store(waits, Relaxed);
        let (mut time, mut reads, mut found) = (0, 0, 0);
        let mut results = Vec::new();
        for (q, want) in queries.chunks_exact(WIDE).zip(&truth) {
            log.lock().clear();
            let r = index.search(q, 10, &params(read_ahead)).unwrap();
            let events = std::mem::take(&mut *log.lock());
            time += simulated_time(&events);
            reads += events
                .iter()
                .filter(|e| matches!(e, Event::Read(_)))
                .count();
            found += r.iter().filter(|x| want.contains(&x.0)).count();
            results.push(r);
        }
        (time, reads, found, results)
    };
    let (time_one, reads_one, found_one, _) = run(false, 8);
    let (time_batch, reads_batch, found_batch, _) = run(true, 8);
    println!(
        "one at a time: time {time_one}, reads {reads_one}, found {found_one}; batches: time {time_batch}, reads {reads_batch}, found {found_batch}"
    );
    assert!(
        time_batch * 10 <= time_one * 9,
        "batches should overlap reads: simulated {time_batch} against {time_one}"
    );
    assert!(
        reads_batch >= reads_one && reads_batch * 10 <= reads_one * 13,
        "batches read a little more: {reads_batch} against {reads_one}"
    );
    assert!(
        found_batch * 100 >= found_one * 99,
        "batches should find as much: {found_batch} against {found_one}"
    );
    let (_, _, _, plain) = run(false, 0);
    let (_, _, _, waiting_plain) = run(true, 0);
    assert_eq!(plain, waiting_plain, "read_ahead 0 took batches");
}
