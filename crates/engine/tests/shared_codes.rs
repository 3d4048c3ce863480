//! Code areas held once in a `CodePool` and shared by many handles, as the
//! Postgres backends of one server share them: threads stand in for the
//! processes, a heap region for the shared memory, `RwLock`s for the
//! host's locks. Every handle must answer as a privately loaded one does,
//! see what the others wrote after a refresh, and keep answering when the
//! pool is too small (from its own memory).

mod common;

use diskvec_engine::heap_pool::heap_pool;
use diskvec_engine::{AreaKey, Index, MemStore, Metric, Options, Placement, SearchParams};
use std::sync::Barrier;

fn key(rel: u32) -> AreaKey {
    AreaKey {
        db: 1,
        spc: 1663,
        rel,
        oid: rel,
    }
}

fn built(n: usize, dim: usize, metric: Metric, seed: u64) -> (MemStore, Vec<f32>) {
    let store = MemStore::new();
    let data = common::clustered(n + 1200, dim, 16, seed);
    let mut index = Index::create(&store, Options::new(dim, metric)).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index.build(&data[..n * dim], &ids, usize::MAX).unwrap();
    (store, data)
}

fn answers(index: &Index<&MemStore>, queries: &[f32], dim: usize) -> Vec<Vec<(u64, f32)>> {
    let p = SearchParams::default();
    queries
        .chunks_exact(dim)
        .map(|q| index.search(q, 10, &p).unwrap())
        .collect()
}

#[test]
fn handles_share_one_area_and_answer_as_a_private_one() {
    let (pool, _) = heap_pool(16 << 20, 8);
    let dim = 24;
    let (store, data) = built(3000, dim, Metric::Cosine, 1);
    let queries = &data[3000 * dim..3200 * dim];
    let private = Index::open(&store).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| Index::open_in(&store, pool, key(10)).unwrap())
        .collect();
    let stats = pool.stats();
    assert_eq!((stats.slots_used, stats.loads), (1, 1), "{stats:?}");
    let want = answers(&private, queries, dim);
    for h in &handles {
        assert_eq!(h.placement(), Placement::Shared);
        assert_eq!(h.len(), 3000);
        assert_eq!(answers(h, queries, dim), want);
        // The area is the pool's: a handle keeps only its view and scratch.
        assert_eq!(h.code_memory_bytes(), handles[0].code_memory_bytes());
        assert!(h.private_memory_bytes() < private.code_memory_bytes() / 4);
    }
    let slots = pool.slots();
    assert_eq!(slots.len(), 1);
    assert_eq!((slots[0].key, slots[0].entries), (key(10), 3000));
    assert!(slots[0].bytes as usize >= private.code_memory_bytes() / 2);
}

#[test]
fn writes_through_any_handle_reach_every_other() {
    let (pool, _) = heap_pool(16 << 20, 8);
    let dim = 16;
    let (store, data) = built(1500, dim, Metric::L2, 2);
    let writers = 4;
    let extra = 1500..2300usize;
    let barrier = Barrier::new(writers);
    std::thread::scope(|s| {
        for w in 0..writers {
            let (barrier, data, store, extra) = (&barrier, &data, &store, extra.clone());
            s.spawn(move || {
                let mut index = Index::open_in(store, pool, key(20)).unwrap();
                barrier.wait();
                for i in extra.skip(w).step_by(writers) {
                    index.refresh().unwrap();
                    index
                        .insert(i as u64, &data[i * dim..(i + 1) * dim])
                        .unwrap();
                }
            });
        }
    });
    // A handle opened before and refreshed now, and a fresh private one,
    // see the same index: every row, and each found by its own vector.
    let mut reader = Index::open_in(&store, pool, key(20)).unwrap();
    reader.refresh().unwrap();
    let private = Index::open(&store).unwrap();
    assert_eq!(reader.len(), 2300);
    assert_eq!(private.len(), 2300);
    private.check_graph(false).unwrap();
    let p = SearchParams::default();
    for i in extra.clone().step_by(7) {
        assert!(reader.contains(i as u64));
        let hit = reader.search(&data[i * dim..(i + 1) * dim], 1, &p).unwrap();
        assert_eq!(hit[0].0, i as u64);
    }
    // Deletes and a consolidation through one handle; another sees them,
    // and its inserts reuse the freed slots.
    let mut a = Index::open_in(&store, pool, key(20)).unwrap();
    let mut b = Index::open_in(&store, pool, key(20)).unwrap();
    assert_eq!(a.delete_where(|id| id % 5 == 0).unwrap(), 460);
    a.consolidate().unwrap();
    b.refresh().unwrap();
    assert_eq!(b.len(), 2300 - 460);
    assert!(!b.contains(10) && b.contains(11));
    let slots = b.slots();
    for i in 0..100u64 {
        let row = (i as usize * 5) * dim;
        b.insert(100_000 + i, &data[row..row + dim]).unwrap();
    }
    assert_eq!(b.slots(), slots, "freed slots are reused");
    a.refresh().unwrap();
    let fresh = Index::open(&store).unwrap();
    let queries = &data[2300 * dim..2500 * dim];
    assert_eq!(answers(&a, queries, dim), answers(&fresh, queries, dim));
    assert_eq!(pool.stats().slots_used, 1);
}

#[test]
fn a_full_pool_reclaims_what_no_one_reads_else_handles_keep_their_own() {
    // Room for about one of these areas at a time.
    let (store_a, data) = built(6000, 32, Metric::Cosine, 3);
    let (store_b, _) = built(6000, 32, Metric::Cosine, 4);
    let bytes = {
        let (big, _) = heap_pool(64 << 20, 4);
        let probe = Index::open_in(&store_a, big, key(1)).unwrap();
        probe.code_memory_bytes()
    };
    let (pool, host) = heap_pool(bytes * 3 / 2 + (256 << 10), 4);
    let queries = &data[6000 * 32..6200 * 32];
    let a = Index::open_in(&store_a, pool, key(1)).unwrap();
    assert_eq!(a.placement(), Placement::Shared);
    // While `a` is held, `b` cannot have the memory: it keeps its own codes.
    let b = Index::open_in(&store_b, pool, key(2)).unwrap();
    assert_eq!(b.placement(), Placement::PoolFull);
    let private_b = Index::open(&store_b).unwrap();
    assert_eq!(answers(&b, queries, 32), answers(&private_b, queries, 32));
    assert!(pool.stats().refusals >= 1);
    // Once no handle reads `a`, its area is the least recently used: it
    // goes, and `b` gets the pool.
    drop((a, b));
    let b = Index::open_in(&store_b, pool, key(2)).unwrap();
    assert_eq!(b.placement(), Placement::Shared);
    assert_eq!(pool.stats().evictions, 1);
    assert_eq!(pool.slots().len(), 1);
    // An index that is gone (dropped, rebuilt into another file) is
    // reclaimed by a sweep, in use or not by then.
    drop(b);
    host.mark_gone(key(2));
    pool.sweep();
    assert_eq!(pool.stats().bytes_used, 0);
    assert!(pool.slots().is_empty());
}

#[test]
fn an_area_that_cannot_grow_is_retired_and_its_handles_go_on() {
    let dim = 32;
    let (store, data) = built(1000, dim, Metric::L2, 5);
    let (big, _) = heap_pool(64 << 20, 4);
    let loaded = Index::open_in(&store, big, key(1))
        .unwrap()
        .code_memory_bytes();
    // Room for the area as loaded, not for it to grow much.
    let (pool, _) = heap_pool(loaded + (64 << 10), 4);
    let mut writer = Index::open_in(&store, pool, key(7)).unwrap();
    let mut reader = Index::open_in(&store, pool, key(7)).unwrap();
    assert_eq!(writer.placement(), Placement::Shared);
    let mut more = common::clustered(3000, dim, 16, 6);
    more.extend_from_slice(&data[1000 * dim..]);
    for (i, v) in more.chunks_exact(dim).take(3000).enumerate() {
        writer.insert(10_000 + i as u64, v).unwrap();
    }
    assert_eq!(writer.placement(), Placement::PoolFull);
    reader.refresh().unwrap();
    assert_eq!(reader.placement(), Placement::PoolFull);
    assert_eq!(reader.len(), 4000);
    let fresh = Index::open(&store).unwrap();
    let queries = &data[1000 * dim..1200 * dim];
    assert_eq!(
        answers(&reader, queries, dim),
        answers(&fresh, queries, dim)
    );
    assert_eq!(
        answers(&writer, queries, dim),
        answers(&fresh, queries, dim)
    );
    // The retired area went as soon as no handle held it.
    assert!(pool.slots().iter().all(|s| s.status != "retired"));
}

#[test]
fn forget_frees_the_area_of_a_rebuilt_index() {
    let (pool, _) = heap_pool(16 << 20, 8);
    let dim = 8;
    let (old, _) = built(500, dim, Metric::L2, 7);
    let (new, _) = built(700, dim, Metric::L2, 8);
    let before = AreaKey { rel: 30, ..key(30) };
    let after = AreaKey { rel: 31, ..key(30) };
    drop(Index::open_in(&old, pool, before).unwrap());
    let h = Index::open_in(&new, pool, after).unwrap();
    assert_eq!(pool.slots().len(), 2);
    pool.forget(1, 30, Some(&after));
    let slots = pool.slots();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0].key, after);
    assert_eq!(h.len(), 700);
}

#[test]
fn an_empty_index_given_its_dimension_is_laid_out_anew() {
    let (pool, _) = heap_pool(8 << 20, 4);
    let store = MemStore::new();
    let mut w = Index::create(&store, Options::new(1, Metric::L2)).unwrap();
    drop(w);
    let mut r = Index::open_in(&store, pool, key(40)).unwrap();
    w = Index::open_in(&store, pool, key(40)).unwrap();
    w.set_dimension(12, None).unwrap();
    let data = common::clustered(300, 12, 4, 9);
    for (i, v) in data.chunks_exact(12).enumerate() {
        w.insert(i as u64, v).unwrap();
    }
    r.refresh().unwrap();
    assert_eq!(r.options().dim, 12);
    assert_eq!(r.len(), 300);
    let hit = r.search(&data[..12], 1, &SearchParams::default()).unwrap();
    assert_eq!(hit[0].0, 0);
    assert_eq!(r.placement(), Placement::Shared);
}

/// Attribute values stay per handle while the codes are shared: a handle
/// whose shared area another handle already caught up still reads the
/// attribute entries written since its own last refresh, through the
/// change log (a few writes) or whole (more than the log holds).
#[test]
fn attribute_values_follow_writes_through_a_shared_area() {
    use diskvec_engine::{AttrKind, AttrValue, Cond, Filter, ScanParams};
    let (pool, _) = heap_pool(16 << 20, 8);
    let (n, dim) = (2000, 16);
    let data = common::clustered(n + 800, dim, 16, 9);
    let store = MemStore::new();
    let mut o = Options::new(dim, Metric::L2);
    o.attrs = vec![AttrKind::Int];
    {
        let mut index = Index::create(&store, o).unwrap();
        let ids: Vec<u64> = (0..n as u64).collect();
        let values: Vec<AttrValue> = (0..n).map(|i| AttrValue::Int(i as i64 % 10)).collect();
        index
            .build_with(&data[..n * dim], &ids, &values, usize::MAX)
            .unwrap();
    }
    let mut a = Index::open_in(&store, pool, key(60)).unwrap();
    let mut b = Index::open_in(&store, pool, key(60)).unwrap();
    assert_eq!(b.placement(), Placement::Shared);
    let tagged = |idx: &Index<&MemStore>, tag: i64| -> Vec<u64> {
        let p = ScanParams {
            filter: Filter::new().and(Cond::AnyOf {
                column: 0,
                keys: vec![tag as u64],
            }),
            ..ScanParams::default()
        };
        let mut got: Vec<u64> = idx
            .search_iter(&data[..dim], &p)
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        got.sort_unstable();
        got
    };
    assert_eq!(tagged(&b, 3).len(), n / 10);
    // Fewer writes than the change log holds, then more.
    for (tag, rows) in [(77, n..n + 20), (78, n + 20..n + 800)] {
        for i in rows.clone() {
            a.refresh().unwrap();
            a.insert_with(
                i as u64,
                &data[i * dim..(i + 1) * dim],
                &[AttrValue::Int(tag)],
            )
            .unwrap();
        }
        b.refresh().unwrap();
        let want: Vec<u64> = rows.map(|i| i as u64).collect();
        assert_eq!(tagged(&b, tag), want, "tag {tag}");
        assert_eq!(tagged(&a, tag), want, "tag {tag}");
    }
    assert_eq!(pool.stats().loads, 1);
}
