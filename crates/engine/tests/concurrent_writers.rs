//! Several handles inserting into one store at the same time, as Postgres
//! backends do: each refreshes before it writes, and they share pages only
//! through `PageStore::modify`. No insert may be lost or half-linked, slots
//! must never be handed out twice, and the graph must stay as good as one
//! built by a single writer.

mod common;

use diskvec_engine::{Index, MemStore, Metric, Options, PageStore, SearchParams};
use std::sync::Barrier;

const WRITERS: usize = 4;
/// Held-out rows after the indexed ones, used as queries.
const QUERIES: usize = 200;

/// Insert rows `from..to` of `data` through `writers` handles on `store`,
/// one thread each, rows dealt round-robin, all starting together.
fn insert_with<S: PageStore>(
    writers: usize,
    store: &S,
    data: &[f32],
    dim: usize,
    from: usize,
    to: usize,
) {
    let barrier = Barrier::new(writers);
    std::thread::scope(|scope| {
        for w in 0..writers {
            let barrier = &barrier;
            scope.spawn(move || {
                let mut index = Index::open(store).unwrap();
                barrier.wait();
                for i in (from + w..to).step_by(writers) {
                    index.refresh().unwrap();
                    index
                        .insert(i as u64, &data[i * dim..(i + 1) * dim])
                        .unwrap();
                }
            });
        }
    });
}

fn insert_concurrently<S: PageStore>(store: &S, data: &[f32], dim: usize, from: usize, to: usize) {
    insert_with(WRITERS, store, data, dim, from, to);
}

/// recall@10 of the index in `store` (rows `..n` of `data`), queried with
/// the rows after `n`: held out, from the same distribution.
fn recall_of<S: PageStore>(store: S, data: &[f32], dim: usize, n: usize, metric: Metric) -> f64 {
    let index = Index::open(store).unwrap();
    let queries = &data[n * dim..];
    // A short list and no re-ranking, so graph quality shows in the figure.
    let p = SearchParams {
        search_list_size: 10,
        rerank: 0,
        read_ahead: 0,
    };
    common::measure(&index, &data[..n * dim], queries, dim, metric, 10, &p)
}

fn check_complete<S: PageStore>(store: S, data: &[f32], dim: usize, n: usize) {
    let index = Index::open(store).unwrap();
    assert_eq!(index.len(), n, "every insert is counted once");
    // Every slot handed out is a live node: none reserved twice or leaked.
    assert_eq!(index.slots(), n, "no slot reserved twice or leaked");
    index.check_graph(false).unwrap();
    // Every vector is reachable: a search for it finds it.
    let p = SearchParams::default();
    let found = (0..n)
        .filter(|&i| {
            let hits = index.search(&data[i * dim..(i + 1) * dim], 10, &p).unwrap();
            hits.iter().any(|h| h.0 == i as u64)
        })
        .count();
    assert!(
        found as f64 >= 0.995 * n as f64,
        "only {found} of {n} vectors found by their own vector"
    );
}

/// Run `scenario` (which fills a store and returns how many rows it
/// holds) once with one writer and once with `WRITERS`: the concurrent
/// index must be complete and search as well as the sequential one.
fn versus_one_writer(
    data: &[f32],
    dim: usize,
    metric: Metric,
    scenario: impl Fn(&MemStore, usize) -> usize,
) {
    let one = MemStore::new();
    let n = scenario(&one, 1);
    let baseline = recall_of(&one, data, dim, n, metric);
    let many = MemStore::new();
    assert_eq!(scenario(&many, WRITERS), n);
    check_complete(&many, data, dim, n);
    let r = recall_of(&many, data, dim, n, metric);
    eprintln!("{metric:?} dim {dim}: recall@10 {baseline} with one writer, {r} with {WRITERS}");
    assert!(
        r >= baseline - 0.02,
        "recall@10 {r} with {WRITERS} writers, {baseline} with one"
    );
}

#[test]
fn concurrent_inserts_into_an_empty_index() {
    // Empty: the writers race for the first code page, the first node page
    // and the entry point.
    let (dim, n) = (24, 4000);
    let data = common::clustered(n + QUERIES, dim, 20, 11);
    versus_one_writer(&data, dim, Metric::L2, |store, writers| {
        Index::create(store, Options::new(dim, Metric::L2)).unwrap();
        insert_with(writers, store, &data, dim, 0, n);
        n
    });
}

#[test]
fn concurrent_inserts_after_a_build_reuse_freed_slots() {
    let (dim, n) = (32, 6000);
    let data = common::clustered(n + QUERIES, dim, 20, 12);
    versus_one_writer(&data, dim, Metric::Cosine, |store, writers| {
        let mut index = Index::create(store, Options::new(dim, Metric::Cosine)).unwrap();
        let ids: Vec<u64> = (0..3000).collect();
        index.build(&data[..3000 * dim], &ids, usize::MAX).unwrap();
        // Free 300 slots: the writers race to claim them before new ones.
        index.delete_where(|id| id >= 2700).unwrap();
        assert_eq!(index.consolidate().unwrap(), 300);
        drop(index);
        insert_with(writers, store, &data, dim, 2700, n);
        let index = Index::open(store).unwrap();
        assert_eq!(index.slots(), n, "freed slots are reused before new ones");
        n
    });
}

#[test]
fn concurrent_inserts_of_nodes_spanning_pages() {
    // 3000 dimensions: every node spans pages, locked by its first page.
    let (dim, n) = (3000, 400);
    let data = common::clustered(n + QUERIES, dim, 8, 13);
    versus_one_writer(&data, dim, Metric::L2, |store, writers| {
        let mut index = Index::create(store, Options::new(dim, Metric::L2)).unwrap();
        let ids: Vec<u64> = (0..100).collect();
        index.build(&data[..100 * dim], &ids, usize::MAX).unwrap();
        drop(index);
        insert_with(writers, store, &data, dim, 100, n);
        n
    });
}

#[test]
fn concurrent_inner_product_inserts_keep_the_largest_norm() {
    // Inner product: every writer may raise the largest norm (the graph
    // distance's shift); the meta page must end with the true maximum.
    let (dim, n) = (16, 2000);
    let mut data = common::clustered(n, dim, 10, 14);
    for (i, v) in data.chunks_exact_mut(dim).enumerate() {
        let scale = 1.0 + (i % 97) as f32 / 10.0;
        v.iter_mut().for_each(|x| *x *= scale);
    }
    let store = MemStore::new();
    Index::create(&store, Options::new(dim, Metric::InnerProduct)).unwrap();
    insert_concurrently(&store, &data, dim, 0, n);
    let index = Index::open(&store).unwrap();
    assert_eq!(index.len(), n);
    index.check_graph(false).unwrap();
    let truth = data
        .chunks_exact(dim)
        .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
        .fold(0f32, f32::max);
    let bound = index.ip_norm_bound();
    assert!(
        (bound - truth).abs() <= 1e-4 * truth,
        "norm bound {bound}, largest norm {truth}"
    );
}
