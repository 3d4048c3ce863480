//! Nodes larger than a page span a chain of pages, up to 16000 dimensions.

mod common;

use diskvec_engine::{FileStore, Index, MemStore, Metric, Options, SearchParams};

#[test]
fn spanning_nodes_round_trip() {
    for dim in [2100usize, 16000] {
        let n = if dim > 10000 { 120 } else { 300 };
        let base = common::clustered(n, dim, 6, dim as u64);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let mut index = Index::create(
            FileStore::create(&path).unwrap(),
            Options::new(dim, Metric::L2),
        )
        .unwrap();
        // Half bulk, half incremental: both write spanning nodes.
        let half = n / 2;
        let ids: Vec<u64> = (0..half as u64).collect();
        index.build(&base[..half * dim], &ids, usize::MAX).unwrap();
        for i in half..n {
            index
                .insert(i as u64, &base[i * dim..(i + 1) * dim])
                .unwrap();
        }
        index.delete(3).unwrap();
        index.consolidate().unwrap();
        index.check_graph(true).unwrap();
        drop(index);
        let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
        assert_eq!(index.len(), n - 1);
        let params = SearchParams {
            search_list_size: 32,
            rerank: 8,
        };
        for i in [0usize, 7, half + 1, n - 1] {
            let hits = index
                .search(&base[i * dim..(i + 1) * dim], 1, &params)
                .unwrap();
            assert_eq!(hits[0].0, i as u64, "dim {dim}: vector {i} finds itself");
            assert!(hits[0].1 < 1e-2);
        }
        // Codes stay small: 1 bit per (padded) dimension plus 16 bytes.
        assert!(index.code_bytes_per_vector() <= dim * 4 / 8);
    }
    assert!(Index::create(MemStore::new(), Options::new(16001, Metric::L2)).is_err());
}
