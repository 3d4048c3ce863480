//! Nodes are packed as a byte stream over the node pages: one that does
//! not fit in what is left of a page runs on into the next, and nodes larger
//! than a page span several, up to 16000 dimensions.

mod common;

use diskvec_engine::{FileStore, Index, MemStore, Metric, Options, PageStore, SearchParams};

/// A file-store index at `path` over `base`: the first half bulk-built, the
/// rest inserted one by one, so both paths write the nodes under test.
fn half_built_half_inserted(
    path: &std::path::Path,
    base: &[f32],
    dim: usize,
    metric: Metric,
) -> Index<FileStore> {
    let n = base.len() / dim;
    let mut index =
        Index::create(FileStore::create(path).unwrap(), Options::new(dim, metric)).unwrap();
    let half = n / 2;
    let ids: Vec<u64> = (0..half as u64).collect();
    index.build(&base[..half * dim], &ids, usize::MAX).unwrap();
    for i in half..n {
        index
            .insert(i as u64, &base[i * dim..(i + 1) * dim])
            .unwrap();
    }
    index
}

#[test]
fn spanning_nodes_round_trip() {
    for dim in [2100usize, 16000] {
        let n = if dim > 10000 { 120 } else { 300 };
        let base = common::clustered(n, dim, 6, dim as u64);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let half = n / 2;
        let mut index = half_built_half_inserted(&path, &base, dim, Metric::L2);
        index.delete(3).unwrap();
        index.consolidate().unwrap();
        index.check_graph(true).unwrap();
        drop(index);
        let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
        assert_eq!(index.len(), n - 1);
        let params = SearchParams {
            search_list_size: 32,
            rerank: 8,
            read_ahead: 0,
        };
        for i in [0usize, 7, half + 1, n - 1] {
            let hits = index
                .search(&base[i * dim..(i + 1) * dim], 1, &params)
                .unwrap();
            assert_eq!(hits[0].0, i as u64, "dim {dim}: vector {i} finds itself");
            assert!(hits[0].1 < 1e-2);
        }
        // Codes stay small: 3 bits per (padded) dimension plus 16 bytes,
        // under a fifth of the raw vector (and within a code page).
        assert!(index.code_bytes_per_vector() <= dim * 4 / 5);
    }
    assert!(Index::create(MemStore::new(), Options::new(16001, Metric::L2)).is_err());
}

#[test]
fn nodes_run_on_across_pages_with_no_space_lost() {
    // 384 dimensions, R = 48: 1744-byte nodes, 4.67 to a page, so about one
    // node in five starts in one page and ends in the next.
    let dim = 384;
    let n = 600;
    let base = common::clustered(n, dim, 10, 384);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream");
    let mut index = half_built_half_inserted(&path, &base, dim, Metric::Cosine);
    // Deletes rewrite the flags, consolidation the neighbour lists and the
    // freed slots; reinserts reuse them: all through nodes that straddle.
    index.delete_where(|id| id % 5 == 2).unwrap();
    assert_eq!(index.consolidate().unwrap(), n / 5);
    for i in (0..n).filter(|i| i % 5 == 2) {
        index
            .insert(i as u64, &base[i * dim..(i + 1) * dim])
            .unwrap();
    }
    index.check_graph(true).unwrap();
    index.commit().unwrap();
    drop(index);
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(index.len(), n);
    let params = SearchParams::default();
    for i in 0..n {
        let hits = index
            .search(&base[i * dim..(i + 1) * dim], 1, &params)
            .unwrap();
        assert_eq!(hits[0].0, i as u64, "vector {i} finds itself");
        assert!(hits[0].1 < 1e-4);
    }
    // Node pages: the stream's bytes over the page payload, plus the one
    // page each half starts (build, then inserts) and rounding.
    let slot = 16 + 4 * dim + 4 * 48;
    // Page payload: the page less its 32-byte diskvec header (format.rs).
    let payload = diskvec_engine::PAGE_SIZE - 32;
    let node_pages = (n * slot).div_ceil(payload) + 2;
    let code_pages = (n * index.code_bytes_per_vector()).div_ceil(payload) + 2;
    let pages = index.store().len() as usize;
    assert!(
        pages <= node_pages + code_pages + 2,
        "{pages} pages for {n} nodes ({node_pages} node pages needed)"
    );
}

/// A code must fit a code page: 4 bits per dimension past 8,192 dimensions
/// do not, and asking for them is refused with a clear error (at create, and
/// when an index created without a dimension gets one), never a broken
/// index; the default (3 bits there) builds.
#[test]
fn codes_larger_than_a_page_are_refused() {
    let mut opts = Options::new(16000, Metric::L2);
    opts.bits = Some(4);
    let err = Index::create(MemStore::new(), opts).err().expect("refused");
    assert!(err.to_string().contains("does not fit a page"), "{err}");
    let mut index = Index::create(MemStore::new(), Options::new(8, Metric::L2)).unwrap();
    let err = index.set_dimension(16000, Some(4)).unwrap_err();
    assert!(err.to_string().contains("quant_bits = 3"), "{err}");
    index.set_dimension(16000, None).unwrap();
    let v = vec![0.5f32; 16000];
    index.insert(1, &v).unwrap();
    assert_eq!(
        index.search(&v, 1, &SearchParams::default()).unwrap()[0].0,
        1
    );
}
