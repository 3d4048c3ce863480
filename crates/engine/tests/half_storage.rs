//! Indexes whose node pages hold half-precision vectors (`Element::F16`,
//! what an index over `halfvec` or `bit` uses): the same recall as `f32`
//! pages on values that are half floats to begin with, inserts and reopen
//! through the file store, fewer pages, and a meta page that says so.

mod common;

use diskvec_engine::dataset;
use diskvec_engine::halfvec_text::{from_f32, to_f32};
use diskvec_engine::{
    Element, FileStore, Index, MemStore, Metric, Options, PageStore, SearchParams,
};

/// `v` rounded to half precision (what a `halfvec` column holds).
fn as_halves(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| to_f32(from_f32(x))).collect()
}

#[test]
fn half_pages_recall_like_float_pages_on_wordnet() {
    let ds = dataset::load("wordnet384");
    let (n, nq, dim) = (8_000, 100, ds.base.cols);
    let base = as_halves(&ds.base.data[..n * dim]);
    let queries = as_halves(&ds.queries.data[..nq * dim]);
    let ids: Vec<u64> = (0..n as u64).collect();
    let params = SearchParams {
        search_list_size: 64,
        rerank: 16,
        read_ahead: 0,
    };
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let mut pages = Vec::new();
        let mut recalls = Vec::new();
        for element in [Element::F32, Element::F16] {
            let opts = Options {
                element,
                ..Options::new(dim, metric)
            };
            let mut index = Index::create(MemStore::new(), opts).unwrap();
            index.build(&base, &ids, usize::MAX).unwrap();
            assert_eq!(index.options().element, element);
            recalls.push(common::measure(
                &index, &base, &queries, dim, metric, 10, &params,
            ));
            pages.push(index.store().len());
        }
        println!(
            "{metric:?}: recall f32 {:.4} f16 {:.4}, pages {} vs {}",
            recalls[0], recalls[1], pages[0], pages[1]
        );
        assert!(recalls[1] >= 0.95, "{metric:?}: f16 recall {}", recalls[1]);
        assert!(
            (recalls[0] - recalls[1]).abs() <= 0.01,
            "{metric:?}: {recalls:?}"
        );
        assert!(
            (pages[1] as f64) < 0.75 * pages[0] as f64,
            "{metric:?}: half pages {} vs {}",
            pages[1],
            pages[0]
        );
    }
}

#[test]
fn half_pages_take_inserts_and_reopen() {
    // An odd dimension: the neighbour list after the halves stays aligned.
    let (n, dim) = (3000, 41);
    let base = as_halves(&common::clustered(n, dim, 30, 7));
    let queries = as_halves(&common::clustered(60, dim, 30, 8));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half");
    let opts = Options {
        element: Element::F16,
        ..Options::new(dim, Metric::L2)
    };
    let ids: Vec<u64> = (0..2000).collect();
    {
        let mut index = Index::create(FileStore::create(&path).unwrap(), opts.clone()).unwrap();
        index.build(&base[..2000 * dim], &ids, usize::MAX).unwrap();
        for i in 2000..n {
            index
                .insert(i as u64, &base[i * dim..(i + 1) * dim])
                .unwrap();
        }
        index.commit().unwrap();
    }
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    let reopened = index.options();
    assert_eq!((reopened.element, reopened.dim), (Element::F16, dim));
    let params = SearchParams {
        search_list_size: 128,
        rerank: 16,
        read_ahead: 0,
    };
    let r = common::measure(&index, &base, &queries, dim, Metric::L2, 10, &params);
    assert!(r >= 0.95, "recall {r}");
    // The exact distance re-ranking returns is the half values' distance.
    let q = &queries[..dim];
    let (id, d) = index.search(q, 1, &params).unwrap()[0];
    let v = &base[id as usize * dim..(id as usize + 1) * dim];
    let want: f32 = v
        .iter()
        .zip(q)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f32>()
        .sqrt();
    assert!((d - want).abs() <= 1e-4 * want.max(1.0), "{d} vs {want}");
    assert!(index.check_graph(false).is_ok());
}

#[test]
fn half_pages_consolidate_deleted_nodes() {
    // Consolidation re-prunes around removed nodes from the half vectors
    // on their pages: the graph stays whole and nothing deleted returns.
    let (n, dim) = (3000, 24);
    let base = as_halves(&common::clustered(n, dim, 30, 11));
    let queries = as_halves(&common::clustered(60, dim, 30, 12));
    let opts = Options {
        element: Element::F16,
        ..Options::new(dim, Metric::Cosine)
    };
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut index = Index::create(MemStore::new(), opts).unwrap();
    index.build(&base, &ids, usize::MAX).unwrap();
    let gone = index.delete_where(|id| id % 5 == 0).unwrap();
    assert_eq!(gone, n / 5);
    let freed = index.consolidate().unwrap();
    assert_eq!(freed, n / 5);
    assert!(index.check_graph(false).is_ok());
    let params = SearchParams {
        search_list_size: 128,
        rerank: 16,
        read_ahead: 0,
    };
    for q in queries.chunks(dim) {
        let hits = index.search(q, 10, &params).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|&(id, _)| id % 5 != 0), "{hits:?}");
    }
}
