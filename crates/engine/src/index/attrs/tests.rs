use super::super::{Index, Metric, Options, SearchParams, META_BLKNO};
use crate::format::{self, MetaBody, HEADER_SIZE, NONE};
use crate::page::PageStore;
use crate::MemStore;

/// An index written before attribute columns (format 3: the meta page
/// ends before the attribute fields, which read as zeros) opens as one
/// without them, answers, takes inserts and passes the page checks.
#[test]
fn a_format_3_index_reads_as_one_without_attribute_columns() {
    let (n, dim) = (600, 8);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<f32> = (0..(n + 1) * dim)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let ids: Vec<u64> = (0..n as u64).collect();
    let store = MemStore::new();
    {
        let mut index = Index::create(&store, Options::new(dim, Metric::L2)).unwrap();
        index.build(&data[..n * dim], &ids, usize::MAX).unwrap();
    }
    let size = std::mem::size_of::<MetaBody>();
    store
        .modify(META_BLKNO, |p| {
            let body = &mut p.bytes[HEADER_SIZE..HEADER_SIZE + size];
            let mut m: MetaBody = bytemuck::pod_read_unaligned(body);
            assert_eq!((m.n_attrs, m.attr_head), (0, NONE));
            // What version 3 left there.
            m.attr_head = 0;
            m.attr_tail = 0;
            m.max_labels = 0;
            body.copy_from_slice(bytemuck::bytes_of(&m));
            format::header_mut(p).version = 3;
            Ok(())
        })
        .unwrap();
    let mut index = Index::open(&store).unwrap();
    assert!(index.options().attrs.is_empty());
    let q = &data[3 * dim..4 * dim];
    let hits = index.search(q, 1, &SearchParams::default()).unwrap();
    assert_eq!(hits[0].0, 3);
    index.insert(n as u64, &data[n * dim..]).unwrap();
    let hits = index
        .search(&data[n * dim..], 1, &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].0, n as u64);
    super::super::check_pages(&store, || {}).unwrap();
    assert!(index.check_graph(false).is_ok());
}

/// A newer version than this build reads is refused as a format error.
#[test]
fn a_newer_format_is_refused() {
    let store = MemStore::new();
    Index::create(&store, Options::new(4, Metric::L2)).unwrap();
    store
        .modify(META_BLKNO, |p| {
            format::header_mut(p).version = format::FORMAT_VERSION + 1;
            Ok(())
        })
        .unwrap();
    assert!(matches!(
        Index::open(&store),
        Err(crate::page::Error::Format { .. })
    ));
}
