//! The file store: reopen after close, crashes at every step of a commit,
//! corruption and format changes are reported, never misread.

mod common;

use diskvec_engine::file_store::CrashPoint;
use diskvec_engine::{
    Error, FileStore, Index, Metric, Options, PageStore, SearchParams, PAGE_SIZE,
};
use std::os::unix::fs::FileExt;
use std::path::Path;

const DIM: usize = 20;

fn data(n: usize, seed: u64) -> Vec<f32> {
    common::clustered(n, DIM, 8, seed)
}

fn build(path: &Path, n: usize) -> Index<FileStore> {
    build_with_overlay(path, n, diskvec_engine::file_store::DEFAULT_OVERLAY_PAGES)
}

/// An index of `n` rows built in a store that keeps at most `overlay`
/// dirty pages in memory.
fn build_with_overlay(path: &Path, n: usize, overlay: usize) -> Index<FileStore> {
    let mut store = FileStore::create(path).unwrap();
    store.set_overlay_limit(overlay);
    let mut index = Index::create(store, Options::new(DIM, Metric::L2)).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i + 1000).collect();
    index.build(&data(n, 1), &ids, usize::MAX).unwrap();
    index
}

/// Flip the bits `mask` of the byte at `at` in page `blkno` of the file
/// (page i sits at (i + 1) * PAGE_SIZE), behind any open store's back.
fn flip(file: &std::fs::File, blkno: u64, at: u64, mask: u8) {
    let off = (blkno + 1) * PAGE_SIZE as u64 + at;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, off).unwrap();
    byte[0] ^= mask;
    file.write_all_at(&byte, off).unwrap();
}

fn answers(index: &Index<FileStore>) -> Vec<Vec<(u64, f32)>> {
    data(20, 99)
        .chunks_exact(DIM)
        .map(|q| index.search(q, 5, &SearchParams::default()).unwrap())
        .collect()
}

#[test]
fn reopen_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let index = build(&path, 2000);
    let before = answers(&index);
    let opts = index.options();
    drop(index);
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(index.options(), opts);
    assert_eq!(index.len(), 2000);
    assert_eq!(answers(&index), before);
    // Inserts and deletes survive a reopen after commit.
    let mut index = index;
    let extra = data(50, 7);
    for (i, v) in extra.chunks_exact(DIM).enumerate() {
        index.insert(90_000 + i as u64, v).unwrap();
    }
    index.delete(1000).unwrap();
    index.commit().unwrap();
    let after = answers(&index);
    drop(index);
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(index.len(), 2049);
    assert!(index.contains(90_049) && !index.contains(1000));
    assert_eq!(answers(&index), after);
    index.check_graph(false).unwrap();
}

/// Uncommitted changes vanish; committed ones stay, whatever the crash
/// point, and whether the new pages waited in memory for the commit or were
/// written in place before it (an overlay of 4 pages).
#[test]
fn crash_at_every_commit_step() {
    for overlay in [diskvec_engine::file_store::DEFAULT_OVERLAY_PAGES, 4] {
        crash_at_every_commit_step_with(overlay);
    }
}

fn crash_at_every_commit_step_with(overlay: usize) {
    let points = [
        (CrashPoint::TornLog(0), false),
        (CrashPoint::TornLog(100), false),
        (CrashPoint::TornLog(3 * PAGE_SIZE + 17), false),
        (CrashPoint::AfterLog, true),
        (CrashPoint::MidApply(1), true),
        (CrashPoint::MidApply(3), true),
    ];
    for (point, survives) in points {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let mut index = build_with_overlay(&path, 1000, overlay);
        let old = answers(&index);
        let extra = data(200, 5);
        for (i, v) in extra.chunks_exact(DIM).enumerate() {
            index.insert(50_000 + i as u64, v).unwrap();
        }
        let new = answers(&index);
        assert_ne!(old, new);
        index.store().crash_next_commit(point);
        assert!(index.commit().is_err());
        // The process "dies": nothing more reaches the disk.
        drop(index);
        let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
        index.check_graph(false).unwrap();
        if survives {
            assert_eq!(index.len(), 1200, "{point:?}");
            assert_eq!(answers(&index), new, "{point:?}");
        } else {
            assert_eq!(index.len(), 1000, "{point:?}");
            assert_eq!(answers(&index), old, "{point:?}");
        }
    }
}

/// With a small overlay, new pages reach the file before the commit, so
/// memory holds the overlay, not the whole index: searches read them back
/// (their checksums verified on every read), the index answers the same
/// after a reopen, and uncommitted pages written in place vanish in a
/// crash (cut off on open).
#[test]
fn small_overlay_writes_new_pages_before_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let mut index = build_with_overlay(&path, 2000, 4);
    let built = answers(&index);
    let committed_len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        committed_len,
        (index.store().len() as u64 + 1) * PAGE_SIZE as u64
    );
    index.check_graph(false).unwrap();
    // Uncommitted inserts: their new pages are already in the file.
    let extra = data(1500, 3);
    for (i, v) in extra.chunks_exact(DIM).enumerate() {
        index.insert(70_000 + i as u64, v).unwrap();
    }
    assert_eq!(index.len(), 3500);
    let pages = index.store().len() as u64;
    assert!(pages > committed_len / PAGE_SIZE as u64 + 4);
    let spilled_len = std::fs::metadata(&path).unwrap().len();
    assert!(
        spilled_len > committed_len + 4 * PAGE_SIZE as u64,
        "{spilled_len} bytes, {committed_len} committed"
    );
    let with_extra = answers(&index);
    // The process dies before the commit.
    drop(index);
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), committed_len);
    assert_eq!(index.len(), 2000);
    assert!(!index.contains(70_000));
    assert_eq!(answers(&index), built);
    index.check_graph(false).unwrap();
    drop(index);
    // The same inserts committed this time.
    let mut store = FileStore::open(&path).unwrap();
    store.set_overlay_limit(4);
    let mut index = Index::open(store).unwrap();
    for (i, v) in extra.chunks_exact(DIM).enumerate() {
        index.insert(70_000 + i as u64, v).unwrap();
    }
    assert_eq!(answers(&index), with_extra);
    index.commit().unwrap();
    drop(index);
    let index = Index::open(FileStore::open(&path).unwrap()).unwrap();
    assert_eq!(index.len(), 3500);
    assert!(index.contains(70_000) && index.contains(71_499));
    assert_eq!(answers(&index), with_extra);
    index.check_graph(false).unwrap();
}

/// A flipped byte anywhere in a page is an error on read, never data.
#[test]
fn corruption_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let index = build(&path, 2000);
    let pages = index.store().len();
    drop(index);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // Corrupt one byte in every 7th page.
    let mut flipped = Vec::new();
    for b in (1..pages).step_by(7) {
        flip(&file, b as u64, 100 + (b as u64 * 37) % 8000, 0x10);
        flipped.push(b);
    }
    drop(file);
    let store = FileStore::open(&path).unwrap();
    let mut detected = 0;
    for &b in &flipped {
        match store.read(b) {
            Err(Error::Corrupt { blkno, .. }) => {
                assert_eq!(blkno, b);
                detected += 1;
            }
            Err(e) => panic!("page {b}: unexpected error {e}"),
            Ok(_) => panic!("page {b}: corrupt page returned as data"),
        }
    }
    println!(
        "file store: {} byte flips injected in {pages} pages, {detected} detected by the page CRC",
        flipped.len()
    );
    // Opening the index reads the code area; searches read node pages. Each
    // either fails with Corrupt or answers from intact pages only.
    match Index::open(store) {
        Err(Error::Corrupt { .. }) => {}
        Err(e) => panic!("unexpected {e}"),
        Ok(index) => {
            let mut errors = 0;
            for q in data(50, 3).chunks_exact(DIM) {
                match index.search(q, 10, &SearchParams::default()) {
                    Err(Error::Corrupt { .. }) => errors += 1,
                    Err(e) => panic!("unexpected {e}"),
                    Ok(_) => {}
                }
            }
            assert!(errors > 0, "searches touched no corrupt page");
        }
    }
}

#[test]
fn truncated_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    drop(build(&path, 500));
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - PAGE_SIZE as u64)
        .unwrap();
    assert!(matches!(FileStore::open(&path), Err(Error::Corrupt { .. })));
}

#[test]
fn format_changes_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    drop(build(&path, 300));
    // An index page format version bump (meta page = block 0, version at byte 8),
    // written with a valid checksum so only the version is wrong.
    {
        let store = FileStore::open(&path).unwrap();
        let mut page = *store.read(0).unwrap();
        page.bytes[8] = 99;
        store.write(0, &page).unwrap();
        store.commit().unwrap();
    }
    match Index::open(FileStore::open(&path).unwrap()) {
        Err(Error::Format { found, .. }) => assert!(found.contains("99"), "{found}"),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("a newer format was opened"),
    }
    // A page-file version bump in the superblock.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[7], 4).unwrap();
    assert!(matches!(FileStore::open(&path), Err(Error::Format { .. })));
    // Not our file at all.
    let other = dir.path().join("other");
    std::fs::write(&other, vec![b'x'; 3 * PAGE_SIZE]).unwrap();
    assert!(matches!(FileStore::open(&other), Err(Error::Format { .. })));
}

#[test]
fn free_pages_are_reused_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = FileStore::create(&path).unwrap();
    let blocks: Vec<u32> = (0..5).map(|_| store.extend().unwrap()).collect();
    store.commit().unwrap();
    store.free(blocks[1]).unwrap();
    store.free(blocks[3]).unwrap();
    store.commit().unwrap();
    drop(store);
    let store = FileStore::open(&path).unwrap();
    let a = store.extend().unwrap();
    let b = store.extend().unwrap();
    let mut got = vec![a, b];
    got.sort();
    assert_eq!(got, vec![1, 3]);
    assert_eq!(store.extend().unwrap(), 5);
}

/// With checksums verified once, a corrupt page is still reported on its
/// first read, and verified pages are re-checked after a commit rewrites them.
#[test]
fn verify_first_read_still_catches_corruption() {
    use diskvec_engine::file_store::Verify;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let index = build(&path, 1000);
    let before = answers(&index);
    drop(index);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.write_all_at(&[0xAB], 5 * PAGE_SIZE as u64 + 300)
        .unwrap();
    drop(file);
    let mut store = FileStore::open(&path).unwrap();
    store.set_verify(Verify::FirstRead);
    assert!(matches!(
        store.read(4),
        Err(Error::Corrupt { blkno: 4, .. })
    ));
    assert!(matches!(
        store.read(4),
        Err(Error::Corrupt { blkno: 4, .. })
    ));
    let good = *store.read(3).unwrap();
    store.write(3, &good).unwrap();
    store.commit().unwrap();
    assert!(store.read(3).is_ok());
    // Repair page 4 through the store: a commit writes a fresh checksum.
    drop(store);
    let fresh = build(&dir.path().join("idx2"), 1000);
    assert_eq!(answers(&fresh), before);
}

/// Partial reads (how searches read one node) hash only the 256-byte sectors
/// they touch, against sums taken when the page passed its full check: a
/// page corrupt anywhere fails its first read, bytes changed on disk after
/// that are caught when they are read again, and a full read still catches
/// a change anywhere in the page.
#[test]
// `&[a..b]`: one byte range of a page, not a list of its offsets.
#[allow(clippy::single_range_in_vec_init)]
fn partial_reads_verify_the_bytes_they_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let index = build(&path, 1000);
    index.commit().unwrap();
    assert!(index.store().len() > 5);
    drop(index);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let flip = |blkno: u64, at: u64| flip(&file, blkno, at, 0x40);
    let node = [0..32, 1000..1400];
    let corrupt = |r: Result<_, Error>, b: u32| match r {
        Err(Error::Corrupt { blkno, reason }) => {
            assert_eq!(blkno, b);
            reason
        }
        Err(e) => panic!("page {b}: unexpected error {e}"),
        Ok(_) => panic!("page {b}: changed bytes returned as data"),
    };
    // Corrupt before its first read, far from the part read: still caught.
    flip(5, 7000);
    let store = FileStore::open(&path).unwrap();
    corrupt(store.read_parts(5, &node).map(|_| ()), 5);
    // Verified, then changed inside the part: caught, naming the sector.
    drop(store.read_parts(4, &node).unwrap());
    flip(4, 1200);
    let reason = corrupt(store.read_parts(4, &node).map(|_| ()), 4);
    assert!(reason.contains("bytes 1024..1280"), "{reason}");
    corrupt(store.read(4).map(|_| ()), 4);
    // Verified, then changed outside the part: this part is intact and
    // served; reads that cover the change fail.
    drop(store.read_parts(3, &node).unwrap());
    flip(3, 5000);
    let p = store.read_parts(3, &node).unwrap();
    assert_eq!(&p.bytes[4..8], b"DVEC");
    drop(p);
    corrupt(store.read_parts(3, &[4990..5010]).map(|_| ()), 3);
    corrupt(store.read(3).map(|_| ()), 3);
    // A range outside the page is the caller's error.
    assert!(matches!(
        store.read_parts(2, &[8000..PAGE_SIZE + 1]),
        Err(Error::Invalid(_))
    ));
    // A commit that rewrites a page takes fresh sums from its new bytes.
    drop(store);
    flip(4, 1200);
    let store = FileStore::open(&path).unwrap();
    let good = *store.read(4).unwrap();
    drop(store.read_parts(4, &node).unwrap());
    let mut changed = good;
    changed.bytes[1100] ^= 1;
    store.write(4, &changed).unwrap();
    store.commit().unwrap();
    assert_eq!(
        store.read_parts(4, &node).unwrap().bytes[1100],
        changed.bytes[1100]
    );
}
