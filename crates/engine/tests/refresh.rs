//! Two handles on one store, as two Postgres backends have: one writes, the
//! other refreshes its cached code area and must then answer exactly as a
//! freshly opened handle does.

mod common;

use diskvec_engine::{Index, MemStore, Metric, Options, SearchParams};

/// Everything a reader can observe: length, membership, and search results.
fn same_answers(a: &Index<&MemStore>, b: &Index<&MemStore>, queries: &[f32], dim: usize) {
    assert_eq!(a.len(), b.len());
    let p = SearchParams::default();
    for q in queries.chunks_exact(dim) {
        assert_eq!(a.search(q, 10, &p).unwrap(), b.search(q, 10, &p).unwrap());
    }
}

#[test]
fn refresh_follows_inserts_deletes_consolidation_and_rebuilds() {
    let dim = 16;
    let store = MemStore::new();
    let data = common::clustered(1200, dim, 12, 7);
    let queries = common::clustered(20, dim, 12, 99);
    let mut writer = Index::create(&store, Options::new(dim, Metric::L2)).unwrap();
    // The reader opens the empty index before the build.
    let mut reader = Index::open(&store).unwrap();
    let ids: Vec<u64> = (0..800).collect();
    writer.build(&data[..800 * dim], &ids, usize::MAX).unwrap();
    assert!(reader.refresh().unwrap(), "a build must be noticed");
    same_answers(&reader, &writer, &queries, dim);
    assert!(!reader.refresh().unwrap(), "nothing changed");

    // A few inserts: the incremental path (within the change log).
    for i in 800..830 {
        writer
            .insert(i, &data[i as usize * dim..(i as usize + 1) * dim])
            .unwrap();
    }
    assert!(reader.refresh().unwrap());
    same_answers(&reader, &writer, &queries, dim);
    assert!(reader.contains(829));

    // A few deletes: changed entries, found through the change log.
    for i in [3u64, 5, 811] {
        assert!(writer.delete(i).unwrap());
    }
    reader.refresh().unwrap();
    assert!(!reader.contains(811) && reader.contains(812));
    same_answers(&reader, &writer, &queries, dim);

    // Many deletes and a consolidation: past the change log, a full reload.
    writer.delete_where(|id| id % 7 == 0).unwrap();
    writer.consolidate().unwrap();
    // Slot reuse: inserts land in freed slots.
    for i in 830..900 {
        writer
            .insert(i, &data[i as usize * dim..(i as usize + 1) * dim])
            .unwrap();
    }
    reader.refresh().unwrap();
    same_answers(&reader, &writer, &queries, dim);
    let fresh = Index::open(&store).unwrap();
    same_answers(&reader, &fresh, &queries, dim);
    for i in 0..900u64 {
        let expect = i >= 830 || !(i % 7 == 0 || i == 3 || i == 5 || i == 811);
        assert_eq!(reader.contains(i), expect, "id {i}");
    }
}

#[test]
fn stale_reader_skips_nodes_it_has_not_loaded() {
    // A reader that has not refreshed sees links to nodes past its code
    // area; it must search without them, not fail.
    let dim = 8;
    let store = MemStore::new();
    let data = common::clustered(400, dim, 4, 3);
    let mut writer = Index::create(&store, Options::new(dim, Metric::Cosine)).unwrap();
    let ids: Vec<u64> = (0..200).collect();
    writer.build(&data[..200 * dim], &ids, usize::MAX).unwrap();
    let reader = Index::open(&store).unwrap();
    for i in 200..400u64 {
        writer
            .insert(i, &data[i as usize * dim..(i as usize + 1) * dim])
            .unwrap();
    }
    for q in data.chunks_exact(dim).take(50) {
        let hits = reader.search(q, 10, &SearchParams::default()).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|(id, _)| *id < 200));
    }
}

#[test]
fn delete_where_reports_how_many() {
    let dim = 4;
    let store = MemStore::new();
    let data = common::clustered(100, dim, 2, 1);
    let mut index = Index::create(&store, Options::new(dim, Metric::L2)).unwrap();
    let ids: Vec<u64> = (0..100).collect();
    index.build(&data, &ids, usize::MAX).unwrap();
    assert_eq!(index.delete_where(|id| id < 30).unwrap(), 30);
    assert_eq!(index.delete_where(|id| id < 30).unwrap(), 0);
    assert_eq!(index.len(), 70);
    index.consolidate().unwrap();
    index.check_graph(true).unwrap();
}
