//! The streaming search: iterative scans that lose nothing (strict and
//! relaxed order), attribute filters (flat and walk plans), distance
//! bounds, and attribute values kept across reopening, inserts and slot
//! reuse. Exact answers are brute force over the same vectors.

mod common;

use diskvec_engine::dataset;
use diskvec_engine::{
    AttrKind, AttrValue, Cond, FileStore, Filter, Index, MemStore, Metric, Options, ScanOrder,
    ScanParams, SearchParams,
};
use std::collections::HashSet;

/// Exact distances from `q` to every row of `base`, as the index returns
/// them (cosine distance, or L2).
fn distances(base: &[f32], dim: usize, q: &[f32], metric: Metric) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    base.chunks_exact(dim)
        .map(|v| match metric {
            Metric::L2 => v
                .iter()
                .zip(q)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt() as f32,
            _ => {
                let dot: f64 = v.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
                (1.0 - dot / (norm(v) * norm(q))) as f32
            }
        })
        .collect()
}

/// Row ids closest first among those `keep` accepts.
fn ranked(d: &[f32], keep: impl Fn(usize) -> bool) -> Vec<u64> {
    let mut ids: Vec<usize> = (0..d.len()).filter(|&i| keep(i)).collect();
    ids.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
    ids.into_iter().map(|i| i as u64).collect()
}

fn overlap(got: &[u64], want: &[u64]) -> usize {
    let w: HashSet<u64> = want.iter().copied().collect();
    got.iter().filter(|x| w.contains(x)).count()
}

fn params(order: ScanOrder, list: usize) -> ScanParams {
    ScanParams {
        search: SearchParams {
            search_list_size: list,
            rerank: 8,
            read_ahead: 0,
        },
        order,
        ..ScanParams::default()
    }
}

/// Continuing never drops a row: streamed past the list size many times
/// over, the strict order returns every row once, in distance order (late
/// rows aside, which are counted and rare), and its first 1000 are nearly
/// the true first 1000. Relaxed order returns every row once too; "off"
/// stops after the first search.
#[test]
fn streaming_loses_nothing() {
    let (n, dim) = (3000, 12);
    let base = common::clustered(n, dim, 10, 21);
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    index.build(&base, &ids, usize::MAX).unwrap();
    for qi in [0usize, 777, 2999] {
        let q = &base[qi * dim..(qi + 1) * dim];
        let truth = ranked(&distances(&base, dim, q, Metric::L2), |_| true);
        let mut it = index
            .search_iter(q, &params(ScanOrder::Strict, 20))
            .unwrap();
        let all: Vec<(u64, f32)> = it.by_ref().map(|r| r.unwrap()).collect();
        let stats = it.stats();
        let unique: HashSet<u64> = all.iter().map(|x| x.0).collect();
        assert_eq!(unique.len(), all.len(), "no row twice");
        assert!(all.len() >= n * 999 / 1000, "streamed {} of {n}", all.len());
        let descents = all.windows(2).filter(|w| w[0].1 > w[1].1).count() as u64;
        assert!(descents <= stats.late, "every descent is a late row");
        assert!(stats.late <= n as u64 / 300, "{} late rows", stats.late);
        let first: Vec<u64> = all.iter().take(1000).map(|x| x.0).collect();
        let mut head = index
            .search_iter(q, &params(ScanOrder::Strict, 20))
            .unwrap();
        assert_eq!(head.by_ref().take(1000).count(), 1000);
        let strict_pages = head.stats().pages_read;
        let mut head = index
            .search_iter(q, &params(ScanOrder::Relaxed, 20))
            .unwrap();
        assert_eq!(head.by_ref().take(1000).count(), 1000);
        println!(
            "query {qi}: pages for the first 1000 rows: strict {strict_pages}, relaxed {}",
            head.stats().pages_read
        );
        let found = overlap(&first, &truth[..1000]);
        assert!(found >= 990, "query {qi}: {found} of the true first 1000");

        let relaxed: Vec<u64> = index
            .search_iter(q, &params(ScanOrder::Relaxed, 20))
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        let unique: HashSet<u64> = relaxed.iter().copied().collect();
        assert_eq!(unique.len(), relaxed.len());
        assert!(relaxed.len() >= n * 999 / 1000);
        assert!(overlap(&relaxed[..1000], &truth[..1000]) >= 970);

        let off = index
            .search_iter(q, &params(ScanOrder::Off, 20))
            .unwrap()
            .count();
        assert!((20..200).contains(&off), "off returned {off}");
    }
}

/// `max_reads` and `max_memory` end a scan early; it still returns what it
/// buffered, in order.
#[test]
fn bounds_end_the_scan() {
    let (n, dim) = (3000, 12);
    let base = common::clustered(n, dim, 10, 5);
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
    index.build(&base, &ids, usize::MAX).unwrap();
    let q = &base[..dim];
    let mut p = params(ScanOrder::Strict, 20);
    p.max_reads = 100;
    let mut it = index.search_iter(q, &p).unwrap();
    let got: Vec<f32> = it.by_ref().map(|r| r.unwrap().1).collect();
    assert!(got.len() < 400, "{}", got.len());
    assert!(got.windows(2).all(|w| w[0] <= w[1]));
    let read_all = index
        .search_iter(q, &params(ScanOrder::Strict, 20))
        .unwrap()
        .take(400)
        .count();
    assert_eq!(read_all, 400);
    p.max_reads = usize::MAX;
    p.max_memory = 4096;
    assert!(index.search_iter(q, &p).unwrap().count() < n / 2);
}

/// WordNet, cosine, with attributes: uniform at 10%, 1% and 0.1%, a label
/// set per row, and the part of speech as text.
struct Labelled {
    base: Vec<f32>,
    queries: Vec<f32>,
    dim: usize,
    values: Vec<AttrValue>,
    pos: Vec<u8>,
}

fn labelled(n: usize) -> Labelled {
    let ds = dataset::load("wordnet384");
    let dim = ds.base.cols;
    let ids = std::fs::read_to_string(dataset::data_dir().join("wordnet384/base_ids.txt"))
        .expect("wordnet384/base_ids.txt: run ../shared/data/get.sh");
    let pos: Vec<u8> = ids.lines().take(n).map(|l| l.as_bytes()[0]).collect();
    assert_eq!(
        pos.len(),
        n,
        "wordnet384/base_ids.txt holds fewer than {n} rows"
    );
    let mut values = Vec::new();
    for (i, &part) in pos.iter().enumerate() {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        values.push(AttrValue::Int((h % 10) as i64));
        values.push(AttrValue::Int((h % 100) as i64));
        values.push(AttrValue::Int((h % 1000) as i64));
        values.push(if i % 97 == 0 {
            AttrValue::Labels(vec![])
        } else {
            AttrValue::Labels(vec![(h % 50) as u32, (h / 50 % 50) as u32])
        });
        values.push(AttrValue::text(&[part]));
    }
    Labelled {
        base: ds.base.data[..n * dim].to_vec(),
        queries: ds.queries.data[..40 * dim].to_vec(),
        dim,
        values,
        pos,
    }
}

fn labelled_options(dim: usize) -> Options {
    let mut o = Options::new(dim, Metric::Cosine);
    o.attrs = vec![
        AttrKind::Int,
        AttrKind::Int,
        AttrKind::Int,
        AttrKind::Labels,
        AttrKind::Text,
    ];
    o.max_labels = 4;
    o
}

fn value(l: &Labelled, row: usize, col: usize) -> &AttrValue {
    &l.values[row * 5 + col]
}

/// Filtered top 10 against brute force over the matching rows, at every
/// selectivity: the flat plan for few matches, the walk for many; every
/// row returned matches. With the default codes and with 1-bit ones, whose
/// loose bound is where a non-matching candidate would hold rows back.
#[test]
fn filters_keep_their_recall() {
    let n = 20_000;
    let l = labelled(n);
    for bits in [None, Some(1)] {
        filters_keep_their_recall_with(&l, n, bits);
    }
}

fn filters_keep_their_recall_with(l: &Labelled, n: usize, bits: Option<usize>) {
    let dim = l.dim;
    let mut opts = labelled_options(dim);
    opts.bits = bits;
    let mut index = Index::create(MemStore::new(), opts).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index
        .build_with(&l.base, &ids, &l.values, usize::MAX)
        .unwrap();
    type Case<'a> = (&'static str, Cond, Box<dyn Fn(usize) -> bool + 'a>, bool);
    let noun = diskvec_engine::text_hash(b"n");
    let cases: Vec<Case> = vec![
        (
            "10%",
            Cond::AnyOf {
                column: 0,
                keys: vec![3],
            },
            Box::new(|i| value(l, i, 0) == &AttrValue::Int(3)),
            true,
        ),
        (
            "1% IN",
            Cond::AnyOf {
                column: 1,
                keys: vec![5, 6],
            },
            Box::new(|i| matches!(value(l, i, 1), AttrValue::Int(5 | 6))),
            true,
        ),
        (
            "0.1%",
            Cond::AnyOf {
                column: 2,
                keys: vec![42],
            },
            Box::new(|i| value(l, i, 2) == &AttrValue::Int(42)),
            true,
        ),
        (
            "labels &&",
            Cond::Overlaps {
                column: 3,
                labels: vec![7, 8],
            },
            Box::new(|i| match value(l, i, 3) {
                AttrValue::Labels(x) => x.iter().any(|&y| y == 7 || y == 8),
                _ => false,
            }),
            true,
        ),
        (
            "nouns (text)",
            Cond::AnyOf {
                column: 4,
                keys: vec![noun],
            },
            Box::new(|i| l.pos[i] == b'n'),
            false,
        ),
    ];
    for (name, cond, keep, flat) in cases {
        for order in [ScanOrder::Strict, ScanOrder::Relaxed] {
            let mut p = params(order, 64);
            p.filter = Filter::new().and(cond.clone());
            let plain = params(order, 64);
            let (mut found, mut wanted, mut pages, mut plain_pages) = (0, 0, 0, 0);
            for q in l.queries.chunks_exact(dim) {
                let truth = ranked(&distances(&l.base, dim, q, Metric::Cosine), &keep);
                let mut it = index.search_iter(q, &p).unwrap();
                assert_eq!(it.is_flat(), flat, "{name}: plan");
                let got: Vec<u64> = it.by_ref().take(10).map(|r| r.unwrap().0).collect();
                pages += it.stats().pages_read;
                assert_eq!(got.len(), truth.len().min(10), "{name}: LIMIT rows");
                assert!(
                    got.iter().all(|&i| keep(i as usize)),
                    "{name}: a row that does not match"
                );
                found += overlap(&got, &truth[..truth.len().min(10)]);
                wanted += truth.len().min(10);
                // The same rows with the filter left to the caller (a
                // plain WHERE): the scan streams every row.
                let mut it = index.search_iter(q, &plain).unwrap();
                let kept = it
                    .by_ref()
                    .map(|r| r.unwrap().0)
                    .filter(|&i| keep(i as usize))
                    .take(10)
                    .count();
                assert_eq!(kept, truth.len().min(10));
                plain_pages += it.stats().pages_read;
            }
            let recall = found as f64 / wanted as f64;
            println!(
                "{name} {order:?}: recall@10 {recall:.4}, pages {pages} (filter left to the caller: {plain_pages})"
            );
            assert!(
                recall >= 0.95,
                "{name} {order:?} bits {bits:?}: recall@10 {recall:.4}"
            );
            // A candidate that does not match never holds back a buffered
            // row, so in strict order over 1-bit codes (a loose bound: a
            // streamed row waits on many candidates) the filter in the
            // index reads at least a tenth fewer pages than the filter
            // applied to the rows streamed (as many without that rule).
            // Relaxed order, and strict order over the default codes, read
            // few either way, and the filtered walk starts with a longer
            // list (`walk_list`): no more than a tenth more.
            let bound = match (order, bits) {
                (ScanOrder::Strict, Some(1)) => plain_pages * 9 / 10,
                _ => plain_pages * 11 / 10,
            };
            assert!(
                pages <= bound,
                "{name} {order:?} bits {bits:?}: {pages} pages, {plain_pages} without the filter"
            );
        }
    }
    // Nothing matches: nothing comes back, and quickly.
    let mut p = params(ScanOrder::Strict, 64);
    p.filter = Filter::new().and(Cond::AnyOf {
        column: 2,
        keys: vec![5000],
    });
    let mut it = index.search_iter(&l.queries[..dim], &p).unwrap();
    assert!(it.next().is_none());
    assert_eq!(it.stats().pages_read, 0);
    // A condition on a column of another kind is refused.
    p.filter = Filter::new().and(Cond::Overlaps {
        column: 0,
        labels: vec![1],
    });
    assert!(index.search_iter(&l.queries[..dim], &p).is_err());
}

/// A distance bound returns the rows within it (brute force's set), and
/// the pages it reads grow with those rows, not with `max_reads`.
#[test]
fn distance_bounds_stop_the_scan() {
    let n = 20_000;
    let l = labelled(n);
    let dim = l.dim;
    let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::Cosine)).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index.build(&l.base, &ids, usize::MAX).unwrap();
    let nq = (l.queries.len() / dim) as u64;
    for rows in [10usize, 100, 400] {
        let (mut found, mut wanted, mut pages) = (0, 0, 0);
        for q in l.queries.chunks_exact(dim) {
            let d = distances(&l.base, dim, q, Metric::Cosine);
            let order = ranked(&d, |_| true);
            // Halfway between the rows-th and the next: no ties at the bound.
            let r = (d[order[rows - 1] as usize] + d[order[rows] as usize]) / 2.0;
            let mut p = params(ScanOrder::Strict, 64);
            p.max_distance = Some(r);
            let mut it = index.search_iter(q, &p).unwrap();
            let got: Vec<u64> = it.by_ref().map(|x| x.unwrap().0).collect();
            pages += it.stats().pages_read;
            assert!(got.iter().all(|&i| d[i as usize] <= r + 1e-5));
            found += overlap(&got, &order[..rows]);
            wanted += rows;
            p.max_reads = 1_000_000;
            let mut again = index.search_iter(q, &p).unwrap();
            assert_eq!(again.by_ref().count(), got.len());
            assert_eq!(again.stats().pages_read, it.stats().pages_read);
        }
        let recall = found as f64 / wanted as f64;
        println!(
            "{rows} rows: recall {recall:.4}, {} pages a query",
            pages / nq
        );
        // The rows within a bound are often linked only through nodes
        // just outside it: without reading past the bound (the scan's
        // margin) 100 rows came back at 0.992 here. (Ten rows a query
        // are too few to hold to the tighter bar: one miss is 0.0025.)
        let bar = if rows >= 100 { 0.995 } else { 0.99 };
        assert!(recall >= bar, "{rows} rows: {recall:.4}");
        assert!(pages / nq < 400 + rows as u64 * 8, "{} pages", pages / nq);
    }
}

/// The five attribute values of an inserted row tagged `tag`.
fn inserted_row(tag: i64) -> Vec<AttrValue> {
    vec![
        AttrValue::Int(tag),
        AttrValue::Null,
        AttrValue::Int(-7),
        AttrValue::Labels(vec![9, 1, 9]),
        AttrValue::text(b"x"),
    ]
}

/// Ids of every row whose first attribute is `tag`.
fn tagged<S: diskvec_engine::PageStore>(idx: &Index<S>, q: &[f32], tag: i64) -> Vec<u64> {
    let mut p = params(ScanOrder::Strict, 32);
    p.filter = Filter::new().and(Cond::AnyOf {
        column: 0,
        keys: vec![tag as u64],
    });
    let mut got: Vec<u64> = idx
        .search_iter(q, &p)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    got.sort_unstable();
    got
}

/// Attribute values survive reopening and come with inserts; a row that
/// does not fit is refused with nothing stored.
#[test]
fn attributes_are_stored_and_kept() {
    let n = 3000;
    let l = labelled(n);
    let dim = l.dim;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attrs.dv");
    let ids: Vec<u64> = (0..n as u64).collect();
    {
        let mut index =
            Index::create(FileStore::create(&path).unwrap(), labelled_options(dim)).unwrap();
        index
            .build_with(&l.base, &ids, &l.values, usize::MAX)
            .unwrap();
    }
    let mut a = Index::open(FileStore::open(&path).unwrap()).unwrap();
    for i in [0usize, 97, 1234, 2999] {
        let mut want = l.values[i * 5..i * 5 + 5].to_vec();
        if let AttrValue::Labels(x) = &mut want[3] {
            x.sort_unstable();
        }
        assert_eq!(a.attributes_of(i as u64).unwrap(), want, "row {i}");
    }
    // One by one, past the end of the last attribute page.
    for k in 0..300u64 {
        let v = &l.base[(k as usize) * dim..(k as usize + 1) * dim];
        a.insert_with(10_000 + k, v, &inserted_row(77)).unwrap();
    }
    a.commit().unwrap();
    drop(a);
    let mut a = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(
        tagged(&a, &l.base[..dim], 77),
        (10_000..10_300).collect::<Vec<_>>()
    );
    assert_eq!(
        a.attributes_of(10_005).unwrap()[3],
        AttrValue::Labels(vec![1, 9])
    );
    a.check_graph(false).unwrap();

    // Bad input: too many labels, a value of the wrong kind.
    let before = a.len();
    let mut bad = inserted_row(1);
    bad[3] = AttrValue::Labels(vec![1, 2, 3, 4, 5]);
    let e = a.insert_with(99_999, &l.base[..dim], &bad).unwrap_err();
    assert!(e.to_string().contains("at most 4 labels"), "{e}");
    let mut bad = inserted_row(1);
    bad[0] = AttrValue::text(b"not an int");
    assert!(a.insert_with(99_999, &l.base[..dim], &bad).is_err());
    assert_eq!(a.len(), before);
}

/// A second handle sees another's inserted attribute values after
/// `refresh`, and a slot reused by an insert with other values answers
/// for the new ones only.
#[test]
fn attributes_follow_refresh_and_slot_reuse() {
    let n = 3000;
    let l = labelled(n);
    let dim = l.dim;
    let store = MemStore::new();
    let ids: Vec<u64> = (0..n as u64).collect();
    let mut a = Index::create(&store, labelled_options(dim)).unwrap();
    let mut b = Index::open(&store).unwrap();
    a.build_with(&l.base, &ids, &l.values, usize::MAX).unwrap();
    for k in 0..600u64 {
        let v = &l.base[(k as usize) * dim..(k as usize + 1) * dim];
        a.insert_with(10_000 + k, v, &inserted_row(77)).unwrap();
    }
    b.refresh().unwrap();
    let q = &l.base[..dim];
    assert_eq!(tagged(&b, q, 77), (10_000..10_600).collect::<Vec<_>>());
    for k in 0..600u64 {
        a.delete(10_000 + k).unwrap();
    }
    a.consolidate().unwrap();
    for k in 0..300u64 {
        let v = &l.base[(k as usize) * dim..(k as usize + 1) * dim];
        a.insert_with(20_000 + k, v, &inserted_row(78)).unwrap();
    }
    assert!(tagged(&a, q, 77).is_empty());
    assert_eq!(tagged(&a, q, 78), (20_000..20_300).collect::<Vec<_>>());
    b.refresh().unwrap();
    assert!(tagged(&b, q, 77).is_empty());
    assert_eq!(tagged(&b, q, 78), (20_000..20_300).collect::<Vec<_>>());
    b.check_graph(true).unwrap();
}

/// An index filled by inserts alone (no build) has its attribute pages
/// made as it grows.
#[test]
fn inserted_attributes_from_empty() {
    let (n, dim) = (1500, 8);
    let base = common::clustered(n, dim, 5, 3);
    let mut o = Options::new(dim, Metric::L2);
    o.attrs = vec![AttrKind::Labels];
    o.max_labels = 200;
    let mut index = Index::create(MemStore::new(), o).unwrap();
    for (i, v) in base.chunks_exact(dim).enumerate() {
        index
            .insert_with(i as u64, v, &[AttrValue::Labels(vec![(i % 3) as u32])])
            .unwrap();
    }
    let mut p = params(ScanOrder::Strict, 32);
    p.filter = Filter::new().and(Cond::Overlaps {
        column: 0,
        labels: vec![2],
    });
    let got: HashSet<u64> = index
        .search_iter(&base[..dim], &p)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(got, (0..n as u64).filter(|i| i % 3 == 2).collect());
}
